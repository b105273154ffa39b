namespace Mesh.Core.Config.Model;

/// <summary>Policies applied to calls to a host or subset: load balancing, limits, ejection, TLS.</summary>
[UnsupportedFields("portLevelSettings", "tunnel", "proxyProtocol", "retryBudget")]
public sealed record TrafficPolicy
{
    public LoadBalancerSettings? LoadBalancer { get; init; }
    public ConnectionPoolSettings? ConnectionPool { get; init; }
    public OutlierDetection? OutlierDetection { get; init; }
    public ClientTlsSettings? Tls { get; init; }
}
