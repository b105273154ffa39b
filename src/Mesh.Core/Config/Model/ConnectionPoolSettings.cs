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

[UnsupportedFields("h2UpgradePolicy", "useClientProtocol", "maxConcurrentStreams")]
public sealed record HttpSettings
{
    public int? Http1MaxPendingRequests { get; init; }
    public int? Http2MaxRequests { get; init; }
    public int? MaxRequestsPerConnection { get; init; }
    public int? MaxRetries { get; init; }
    public TimeSpan? IdleTimeout { get; init; }
}
