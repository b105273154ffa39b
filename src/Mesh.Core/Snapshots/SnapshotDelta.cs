using Mesh.Core.Config.Model;
using Mesh.Core.Registry;

namespace Mesh.Core.Snapshots;

/// <summary>
/// What changed between a snapshot a sidecar holds (<see cref="BaseVersion"/>) and <see cref="Version"/>:
/// instances added or changed, instance ids removed, and the config when it changed. With thousands of
/// instances and a thousand watchers, one registration is a few hundred bytes to each instead of the
/// whole registry.
/// </summary>
public sealed record SnapshotDelta
{
    // Version and ConfigVersion come first in the JSON, as in a full snapshot.
    public long Version { get; init; }
    public long ConfigVersion { get; init; }
    public long BaseVersion { get; init; }
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The whole config when it changed since the base; null when it did not.</summary>
    public ConfigSet? Config { get; init; }

    public IReadOnlyList<ServiceInstance> Upserts { get; init; } = [];
    public IReadOnlyList<string> Removed { get; init; } = [];

    /// <summary>The config version of the base, for the control plane (a scoped watcher's delta may carry a config change only if its scope stayed the same since).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public long BaseConfigVersion { get; init; }

    /// <summary>The full snapshot this delta makes of <paramref name="base"/>, which must be at <see cref="BaseVersion"/>.</summary>
    public MeshSnapshot ApplyTo(MeshSnapshot @base)
    {
        if (@base.Version != BaseVersion)
        {
            throw new InvalidOperationException($"delta from version {BaseVersion} cannot apply to snapshot {@base.Version}");
        }
        var removed = Removed.ToHashSet(StringComparer.Ordinal);
        var instances = new SortedDictionary<string, ServiceInstance>(StringComparer.Ordinal);
        foreach (var instance in @base.Instances)
        {
            if (!removed.Contains(instance.InstanceId))
            {
                instances[instance.InstanceId] = instance;
            }
        }
        foreach (var instance in Upserts)
        {
            instances[instance.InstanceId] = instance;
        }
        return new MeshSnapshot
        {
            Version = Version,
            ConfigVersion = ConfigVersion,
            CreatedAt = CreatedAt,
            Config = Config ?? @base.Config,
            Instances = instances.Values.ToArray(),
            // A delta never changes the scope: a watcher whose scope changed gets a full snapshot.
            Scope = @base.Scope,
        };
    }
}
