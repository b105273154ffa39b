using Mesh.Core.Routing;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Configuration;

/// <summary>The applied snapshot, its compiled route table and the proxy clusters it routes to, swapped
/// atomically as one; the request path reads <see cref="Current"/> once per call, without locks.</summary>
internal sealed class MeshState
{
    private Applied? _applied;

    public RouteTable Routes => Volatile.Read(ref _applied)?.Routes ?? RouteTable.Empty;

    public Applied? Current => Volatile.Read(ref _applied);

    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set(Applied applied)
    {
        Volatile.Write(ref _applied, applied);
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>
    /// The applied snapshot once its version is past <paramref name="version"/>, or the current one after
    /// <paramref name="wait"/> (a blocking query, as Consul's <c>index</c> and <c>wait</c>).
    /// </summary>
    public async Task<Applied?> WaitNewerAsync(long version, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait);
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            if (Current is { } current && current.Snapshot.Version > version)
            {
                return current;
            }
            try
            {
                await changed.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return Current;
            }
        }
    }

    /// <summary>Mutual TLS mode and authorization policies for this sidecar's inbound port; STRICT and no policy until a snapshot says otherwise.</summary>
    public WorkloadPolicy InboundPolicy => Volatile.Read(ref _applied)?.InboundPolicy ?? DefaultPolicy;

    private static readonly WorkloadPolicy DefaultPolicy = WorkloadPolicy.For(Mesh.Core.Config.Model.ConfigSet.Empty, "default", "unknown", new Dictionary<string, string>());

    /// <param name="Clusters">
    /// Every cluster of <paramref name="Routes"/> with the proxy's state for it, resolved after the proxy
    /// applied this snapshot's config: the one source of truth a call routes on. A cluster the proxy
    /// dropped in a later snapshot still forwards for calls that began on this one (YARP keeps a removed
    /// cluster's state working while anything refers to it).
    /// </param>
    public sealed record Applied(MeshSnapshot Snapshot, RouteTable Routes, string Source, DateTimeOffset AppliedAt, WorkloadPolicy InboundPolicy,
        IReadOnlyDictionary<string, RoutedCluster> Clusters);
}

/// <summary>
/// A cluster of the route table with everything a call to it needs, bound when the snapshot is applied:
/// its definition, the proxy's live state and its failure-handling state. The routing step resolves it
/// once per call; the later steps read it from the call, never look it up.
/// </summary>
internal sealed record RoutedCluster(ClusterDefinition Definition, ClusterState Proxy, Resilience.ClusterResilience Resilience);
