using System.Text.Json.Serialization;
using Mesh.Core.Config.Model;

namespace Mesh.Core.Snapshots;

/// <summary>
/// The Sidecar resource a snapshot was scoped by, as the sidecar needs it: which hosts it may call and
/// what a call to a host nothing defines gets. Absent from an unscoped snapshot (no Sidecar applies:
/// everything is visible, and unknown hosts get 404).
/// </summary>
public sealed record SnapshotScope
{
    /// <summary>"namespace/name" of the Sidecar resource.</summary>
    public string Sidecar { get; init; } = "";

    /// <summary>What '.' in the hosts meant: the Sidecar's namespace, or the workload's for the root namespace's default.</summary>
    public string Namespace { get; init; } = "";

    /// <summary>The egress hosts with their namespace resolved ("default/*", "*/reviews.default", "~/*"); empty means every host.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];

    public OutboundTrafficMode Mode { get; init; }

    /// <summary>Names the scope: two watchers with the same key get the same snapshot.</summary>
    [JsonIgnore]
    public string Key => $"{Sidecar}@{Namespace}";
}
