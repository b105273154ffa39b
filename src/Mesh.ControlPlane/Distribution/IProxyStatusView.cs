namespace Mesh.ControlPlane.Distribution;

/// <summary>What <c>/v1/proxy-status</c> lists: this control plane's sidecars, or, on etcd, every replica's.</summary>
internal interface IProxyStatusView
{
    Task<IReadOnlyList<ProxyStatus>> ListAsync(CancellationToken cancellationToken);
}
