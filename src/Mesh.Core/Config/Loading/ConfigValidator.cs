using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

/// <summary>
/// Semantic checks across the whole config set. Runs every check without stopping at the first
/// failure so that all problems are reported together.
/// </summary>
public static class ConfigValidator
{
    public static IReadOnlyList<ConfigError> Validate(ConfigSet config)
    {
        var problems = new List<ConfigError>();
        CheckDuplicateNames(config.VirtualServices, "VirtualService", problems);
        CheckDuplicateNames(config.DestinationRules, "DestinationRule", problems);
        var subsets = KnownSubsets(config);
        foreach (var vs in config.VirtualServices)
        {
            VirtualServiceValidator.Validate(vs, subsets, problems);
        }
        foreach (var dr in config.DestinationRules)
        {
            DestinationRuleValidator.Validate(dr, problems);
        }
        return problems;
    }

    internal static ConfigError At<T>(Resource<T> resource, string path, string message, ConfigSeverity severity = ConfigSeverity.Error)
        where T : class
    {
        var (line, column) = resource.Positions.Find(path);
        return new ConfigError(resource.Source, line, column, path, message, severity);
    }

    /// <summary>Subset names by canonical host, from every DestinationRule.</summary>
    private static Dictionary<string, HashSet<string>> KnownSubsets(ConfigSet config)
    {
        var subsets = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var dr in config.DestinationRules)
        {
            var host = HostName.Canonical(dr.Spec.Host, dr.Metadata.Namespace);
            if (!subsets.TryGetValue(host, out var names))
            {
                subsets[host] = names = new HashSet<string>(StringComparer.Ordinal);
            }
            names.UnionWith(dr.Spec.Subsets.Select(s => s.Name));
        }
        return subsets;
    }

    private static void CheckDuplicateNames<T>(IReadOnlyList<Resource<T>> resources, string kind, List<ConfigError> problems)
        where T : class
    {
        var seen = new Dictionary<(string, string), Resource<T>>();
        foreach (var resource in resources)
        {
            var key = (resource.Metadata.Namespace, resource.Metadata.Name);
            if (seen.TryGetValue(key, out var first))
            {
                var (line, _) = first.Positions.Find("metadata.name");
                problems.Add(At(resource, "metadata.name",
                    $"duplicate {kind} '{key.Item2}' in namespace '{key.Item1}' (first defined at {first.Source}:{line})"));
            }
            else
            {
                seen[key] = resource;
            }
        }
    }
}
