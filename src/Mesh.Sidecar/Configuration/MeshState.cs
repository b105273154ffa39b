using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.Sidecar.Configuration;

/// <summary>The applied snapshot and its compiled route table, swapped atomically; the request path reads
/// <see cref="Routes"/> without locks.</summary>
internal sealed class MeshState
{
    private Applied? _applied;

    public RouteTable Routes => Volatile.Read(ref _applied)?.Routes ?? RouteTable.Empty;

    public Applied? Current => Volatile.Read(ref _applied);

    public void Set(Applied applied) => Volatile.Write(ref _applied, applied);

    public sealed record Applied(MeshSnapshot Snapshot, RouteTable Routes, string Source, DateTimeOffset AppliedAt);
}
