namespace Mesh.Core.Config.Model;

[UnsupportedFields("warmupDurationSecs", "warmup")]
public sealed record LoadBalancerSettings
{
    public SimpleLoadBalancer? Simple { get; init; }
    public ConsistentHashSettings? ConsistentHash { get; init; }
    public LocalityLbSetting? LocalityLbSetting { get; init; }
}

public enum SimpleLoadBalancer
{
    Unspecified,
    RoundRobin,
    LeastRequest,
    Random,
    Passthrough,
}

/// <summary>Sticky routing by a request property; exactly one hash key.</summary>
[UnsupportedFields("ringHash", "maglev")]
public sealed record ConsistentHashSettings
{
    public string? HttpHeaderName { get; init; }
    public HttpCookie? HttpCookie { get; init; }
    public bool? UseSourceIp { get; init; }
    public string? HttpQueryParameterName { get; init; }
    public long? MinimumRingSize { get; init; }
}

public sealed record HttpCookie
{
    public string Name { get; init; } = "";
    public string? Path { get; init; }
    public TimeSpan? Ttl { get; init; }
}

/// <summary>Locality-weighted load balancing: prefer the caller's zone, fail over in order.</summary>
[UnsupportedFields("failoverPriority")]
public sealed record LocalityLbSetting
{
    public IReadOnlyList<LocalityDistribute> Distribute { get; init; } = [];
    public IReadOnlyList<LocalityFailover> Failover { get; init; } = [];
    public bool? Enabled { get; init; }
}

public sealed record LocalityDistribute
{
    public string From { get; init; } = "";
    public IReadOnlyDictionary<string, int> To { get; init; } = new Dictionary<string, int>();
}

public sealed record LocalityFailover
{
    public string From { get; init; } = "";
    public string To { get; init; } = "";
}
