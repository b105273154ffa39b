using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Distribution;

/// <summary>The sidecars watching this control plane (the file store: it is the only one).</summary>
internal sealed class LocalProxyStatusView(ProxyStatusTracker tracker, SnapshotPublisher publisher) : IProxyStatusView
{
    public Task<IReadOnlyList<ProxyStatus>> ListAsync(CancellationToken cancellationToken) => Task.FromResult(tracker.List(publisher.Version));
}
