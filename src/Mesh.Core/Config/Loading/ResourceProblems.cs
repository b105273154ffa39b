using Mesh.Core.Config.Model;

namespace Mesh.Core.Config.Loading;

/// <summary>Adds problems found in one resource, each placed at its field's line and column.</summary>
internal readonly struct ResourceProblems<T>(Resource<T> resource, List<ConfigError> problems) where T : class
{
    public Resource<T> Resource => resource;

    public void Error(string path, string message) => problems.Add(ConfigValidator.At(resource, path, message));

    public void Warning(string path, string message) => problems.Add(ConfigValidator.At(resource, path, message, ConfigSeverity.Warning));

    public void Range(string path, string field, double? value, double min, double max)
    {
        if (value is { } v && (v < min || v > max))
        {
            Error(path, $"{field} {v} is out of range {min}-{max}");
        }
    }

    public void Positive(string path, string field, TimeSpan? value)
    {
        if (value is { } v && v <= TimeSpan.Zero)
        {
            Error(path, $"{field} must be greater than 0, got {Durations.Format(v)}");
        }
    }

    /// <summary>Reports a host that neither the registry nor a ServiceEntry provides (only when the registry is known).</summary>
    public void HostResolves(string path, string written, string canonical, ConfigValidator.HostIndex hosts, string role)
    {
        if (hosts.Registered is not null && !hosts.Resolves(canonical))
        {
            Warning(path, $"{role} '{written}' resolves nowhere: no registered instance of '{canonical}' and no ServiceEntry defines it (calls to it get 503 until one does)");
        }
    }
}
