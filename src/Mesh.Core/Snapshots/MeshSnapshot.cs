using Mesh.Core.Config.Model;
using Mesh.Core.Registry;

namespace Mesh.Core.Snapshots;

/// <summary>What a sidecar receives: the routing config and the registry's endpoints at one version.</summary>
public sealed record MeshSnapshot
{
    public static readonly MeshSnapshot Empty = new();

    /// <summary>Monotonic across config and registry changes (and across control-plane restarts).</summary>
    public long Version { get; init; }

    /// <summary>Version of the routing config alone; changes only when accepted YAML changes.</summary>
    public long ConfigVersion { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
    public ConfigSet Config { get; init; } = ConfigSet.Empty;
    public IReadOnlyList<ServiceInstance> Instances { get; init; } = [];

    /// <summary>The Sidecar resource this snapshot was cut down by; null when none applies (everything visible).</summary>
    public SnapshotScope? Scope { get; init; }
}
