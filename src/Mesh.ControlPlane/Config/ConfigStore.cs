using Mesh.ControlPlane.Telemetry;
using System.Text.Json;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Hosting;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Config;

/// <summary>
/// The embedded config store: the YAML directory is the source of truth, and the last accepted
/// config is also kept in the data dir, so a restart while the directory holds a broken edit still
/// serves what was accepted before. Each accepted change gets the next config version.
/// </summary>
internal sealed class ConfigStore(ControlPlaneOptions options, SnapshotPublisher publisher, ServiceRegistry registry, ILogger<ConfigStore> logger)
{
    private readonly Lock _gate = new();
    private byte[] _acceptedJson = [];

    private string AcceptedPath => Path.Combine(options.DataDir, "config.json");

    public long Version => publisher.ConfigVersion;

    /// <summary>Loads the last accepted config from the data dir, then the directory on top of it.</summary>
    public void Start()
    {
        if (File.Exists(AcceptedPath))
        {
            var saved = JsonSerializer.Deserialize<AcceptedConfig>(File.ReadAllBytes(AcceptedPath), MeshJson.Options);
            if (saved is not null)
            {
                _acceptedJson = JsonSerializer.SerializeToUtf8Bytes(saved.Config, MeshJson.Options);
                publisher.SetConfig(saved.Config, saved.Version);
            }
        }
        // At start-up the registry has not heard from the sidecars yet, so hosts are not checked against it.
        Reload(checkHosts: false);
    }

    /// <summary>Reads the whole directory; applies it if valid and different, otherwise keeps the running config.</summary>
    public ConfigLoadResult Reload(bool checkHosts = true)
    {
        var result = ConfigLoader.LoadDirectory(options.ConfigDir, checkHosts ? RegisteredHosts() : null);
        foreach (var warning in result.Problems.Where(p => p.Severity == ConfigSeverity.Warning))
        {
            Log.ConfigWarning(logger, warning.ToString());
        }
        if (result.Config is null)
        {
            var errors = result.Errors.ToArray();
            Log.ConfigRejected(logger, Version, errors.Length);
            ControlPlaneTelemetry.ConfigLoaded(accepted: false);
            foreach (var error in errors)
            {
                Log.ConfigProblem(logger, error.ToString());
            }
            return result;
        }
        ControlPlaneTelemetry.ConfigLoaded(accepted: true);
        Accept(result.Config);
        return result;
    }

    /// <summary>Checks a proposed file against the running directory and registry without applying it.</summary>
    public ConfigLoadResult Validate(string fileName, string text) =>
        ConfigLoader.LoadChange(options.ConfigDir, fileName, text, RegisteredHosts());

    private HashSet<string> RegisteredHosts() =>
        registry.Instances.Select(i => HostName.Canonical(i.Service, i.Namespace)).ToHashSet(StringComparer.Ordinal);

    private void Accept(ConfigSet config)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(config, MeshJson.Options);
        lock (_gate)
        {
            if (json.AsSpan().SequenceEqual(_acceptedJson))
            {
                return; // an edit that changed nothing routing-relevant (comments, formatting)
            }
            var version = Version + 1;
            // Saved before it is served: a crash after this point cannot lose an accepted change.
            AtomicFile.Write(AcceptedPath, JsonSerializer.SerializeToUtf8Bytes(new AcceptedConfig(version, config), MeshJson.Options));
            _acceptedJson = json;
            publisher.SetConfig(config, version);
            Log.ConfigAccepted(logger, version, options.ConfigDir, config.VirtualServices.Count, config.DestinationRules.Count, config.ServiceEntries.Count);
        }
    }

    private sealed record AcceptedConfig(long Version, ConfigSet Config);
}
