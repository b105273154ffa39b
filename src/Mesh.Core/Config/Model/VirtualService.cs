namespace Mesh.Core.Config.Model;

/// <summary>networking.istio.io VirtualService: how requests to a host are routed.</summary>
[UnsupportedFields("tcp", "tls", "gateways")]
public sealed record VirtualService
{
    public IReadOnlyList<string> Hosts { get; init; } = [];
    public IReadOnlyList<HttpRoute> Http { get; init; } = [];
    public IReadOnlyList<string> ExportTo { get; init; } = [];
}

/// <summary>One rule of a VirtualService; rules are tried in order and the first match wins.</summary>
[UnsupportedFields("corsPolicy", "delegate")]
public sealed record HttpRoute
{
    public string? Name { get; init; }
    public IReadOnlyList<HttpMatchRequest> Match { get; init; } = [];
    public IReadOnlyList<HttpRouteDestination> Route { get; init; } = [];
    public TimeSpan? Timeout { get; init; }
    public HttpRetry? Retries { get; init; }
}

/// <summary>Conditions of one match block; all must hold. Several blocks of a rule are OR'ed.</summary>
[UnsupportedFields("sourceLabels", "gateways", "sourceNamespace", "statPrefix", "port", "scheme")]
public sealed record HttpMatchRequest
{
    public string? Name { get; init; }
    public StringMatch? Uri { get; init; }
    public StringMatch? Method { get; init; }
    public StringMatch? Authority { get; init; }
    public IReadOnlyDictionary<string, StringMatch> Headers { get; init; } = new Dictionary<string, StringMatch>();
    public IReadOnlyDictionary<string, StringMatch> QueryParams { get; init; } = new Dictionary<string, StringMatch>();
    public IReadOnlyDictionary<string, StringMatch> WithoutHeaders { get; init; } = new Dictionary<string, StringMatch>();
    public bool IgnoreUriCase { get; init; }
}

/// <summary>Istio StringMatch: exactly one of exact, prefix or regex.</summary>
public sealed record StringMatch
{
    public string? Exact { get; init; }
    public string? Prefix { get; init; }
    public string? Regex { get; init; }
}

public sealed record HttpRouteDestination
{
    public Destination? Destination { get; init; }
    public int? Weight { get; init; }
}

public sealed record Destination
{
    public string Host { get; init; } = "";
    public string? Subset { get; init; }
    public PortSelector? Port { get; init; }
}

public sealed record PortSelector
{
    public int Number { get; init; }
}

/// <summary>Retry policy; parsed and carried in the snapshot, executed by the resilience layer.</summary>
public sealed record HttpRetry
{
    public int Attempts { get; init; }
    public TimeSpan? PerTryTimeout { get; init; }
    public string? RetryOn { get; init; }
    public bool? RetryRemoteLocalities { get; init; }
}
