using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

using Mesh.Core.Security;

namespace Mesh.Sidecar.Configuration;

/// <summary>The applied snapshot and its compiled route table, swapped atomically; the request path reads
/// <see cref="Routes"/> without locks.</summary>
internal sealed class MeshState
{
    private Applied? _applied;

    public RouteTable Routes => Volatile.Read(ref _applied)?.Routes ?? RouteTable.Empty;

    public Applied? Current => Volatile.Read(ref _applied);

    public void Set(Applied applied) => Volatile.Write(ref _applied, applied);

    /// <summary>Mutual TLS mode and authorization policies for this sidecar's inbound port; STRICT and no policy until a snapshot says otherwise.</summary>
    public WorkloadPolicy InboundPolicy => Volatile.Read(ref _applied)?.InboundPolicy ?? DefaultPolicy;

    private static readonly WorkloadPolicy DefaultPolicy = WorkloadPolicy.For(Mesh.Core.Config.Model.ConfigSet.Empty, "default", "unknown", new Dictionary<string, string>());

    public sealed record Applied(MeshSnapshot Snapshot, RouteTable Routes, string Source, DateTimeOffset AppliedAt, WorkloadPolicy InboundPolicy);
}
