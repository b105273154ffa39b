namespace Mesh.Core.Config.Model;

/// <summary>Circuit-breaking limits per destination (Envoy's cluster circuit breakers).</summary>
public sealed record ConnectionPoolSettings
{
    public TcpSettings? Tcp { get; init; }
    public HttpSettings? Http { get; init; }
}

[UnsupportedFields("tcpKeepalive", "maxConnectionDuration", "idleTimeout")]
public sealed record TcpSettings
{
    public int? MaxConnections { get; init; }
    public TimeSpan? ConnectTimeout { get; init; }
}

[UnsupportedFields("useClientProtocol", "maxConcurrentStreams")]
public sealed record HttpSettings
{
    public int? Http1MaxPendingRequests { get; init; }
    public int? Http2MaxRequests { get; init; }
    public int? MaxRequestsPerConnection { get; init; }
    public int? MaxRetries { get; init; }
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>Whether sidecar-to-sidecar calls use HTTP/2 (Mesh's default) or stay HTTP/1.1.</summary>
    public H2UpgradePolicy? H2UpgradePolicy { get; init; }
}

/// <summary>
/// Istio's <c>h2UpgradePolicy</c>. Mesh multiplexes sidecar-to-sidecar calls over HTTP/2 unless a
/// DestinationRule says <c>DO_NOT_UPGRADE</c>, which keeps a pool of HTTP/1.1 (mutual TLS) connections.
/// </summary>
public enum H2UpgradePolicy
{
    Default,
    DoNotUpgrade,
    Upgrade,
}
