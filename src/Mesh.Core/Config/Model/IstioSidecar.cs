namespace Mesh.Core.Config.Model;

/// <summary>
/// networking.istio.io Sidecar: which hosts a workload's sidecar may call (<c>egress[].hosts</c>), and what
/// happens to a call to a host nothing defines (<c>outboundTrafficPolicy</c>). The control plane sends a
/// scoped sidecar only the config and endpoints of those hosts. Named <c>IstioSidecar</c> because
/// <c>Sidecar</c> would hide the <c>Mesh.Sidecar</c> namespace inside that project.
/// </summary>
[NotImplementedField("ingress", "the sidecar's inbound port forwards every call to --app-port; remove ingress (inbound listeners are not configurable)")]
[NotImplementedField("inboundConnectionPool", "remove it; inbound limits are the listener's (docs/security.md)")]
public sealed record IstioSidecar
{
    /// <summary>Null: every workload of the Sidecar's namespace (in the root namespace: of the mesh).</summary>
    public SidecarWorkloadSelector? WorkloadSelector { get; init; }

    /// <summary>Empty: every host is visible (only <see cref="OutboundTrafficPolicy"/> is set).</summary>
    public IReadOnlyList<SidecarEgressListener> Egress { get; init; } = [];

    public OutboundTrafficPolicy? OutboundTrafficPolicy { get; init; }
}

public sealed record SidecarWorkloadSelector
{
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
}

/// <summary>The hosts an app may call, each <c>namespace/dnsName</c> (<c>./*</c>, <c>*/reviews.default.svc.cluster.local</c>, <c>istio-system/*</c>, <c>~/*</c>).</summary>
[NotImplementedField("port", "Mesh's sidecar has one outbound listener for every port; list the hosts without port")]
[UnsupportedFields("bind", "captureMode")]
public sealed record SidecarEgressListener
{
    public IReadOnlyList<string> Hosts { get; init; } = [];
}

[UnsupportedFields("egressProxy")]
public sealed record OutboundTrafficPolicy
{
    public OutboundTrafficMode? Mode { get; init; }
}

public enum OutboundTrafficMode
{
    /// <summary>A host nothing defines gets 404 (<c>x-mesh-error: unknown-host</c>): Mesh's default.</summary>
    RegistryOnly,

    /// <summary>A host nothing defines is forwarded as named, over plain HTTP (Istio's PassthroughCluster).</summary>
    AllowAny,
}
