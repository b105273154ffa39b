namespace Mesh.Core.Config.Model;

/// <summary>networking.istio.io VirtualService: how requests to a host are routed.</summary>
public sealed record VirtualService
{
    /// <summary>The reserved name of all sidecars, as a <see cref="Gateways"/> entry.</summary>
    public const string MeshGateway = "mesh";

    public IReadOnlyList<string> Hosts { get; init; } = [];

    /// <summary><c>mesh</c> (every sidecar), <c>name</c> (a Gateway in this namespace) or <c>namespace/name</c>; absent means <c>mesh</c> only, as in Istio.</summary>
    public IReadOnlyList<string> Gateways { get; init; } = [];
    public IReadOnlyList<HttpRoute> Http { get; init; } = [];

    /// <summary>Opaque TCP rules, for connections to the hosts' TCP ports (docs/routing.md, "TCP").</summary>
    public IReadOnlyList<TcpRoute> Tcp { get; init; } = [];

    /// <summary>TLS passthrough rules, matched by SNI.</summary>
    public IReadOnlyList<TlsRoute> Tls { get; init; } = [];
    public IReadOnlyList<string> ExportTo { get; init; } = [];
}

/// <summary>One rule of a VirtualService; rules are tried in order and the first match wins.</summary>
[UnsupportedFields("corsPolicy", "delegate", "mirrors", "mirrorPercent")]
public sealed record HttpRoute
{
    public string? Name { get; init; }
    public IReadOnlyList<HttpMatchRequest> Match { get; init; } = [];
    public IReadOnlyList<HttpRouteDestination> Route { get; init; } = [];
    public HttpRedirect? Redirect { get; init; }
    public HttpDirectResponse? DirectResponse { get; init; }
    public HttpRewrite? Rewrite { get; init; }
    public TimeSpan? Timeout { get; init; }
    public HttpRetry? Retries { get; init; }
    public HttpFaultInjection? Fault { get; init; }
    public Destination? Mirror { get; init; }
    public Percent? MirrorPercentage { get; init; }
    public Headers? Headers { get; init; }
}

/// <summary>Answer with a redirect instead of forwarding; parts not given keep the request's.</summary>
[UnsupportedFields("derivePort")]
public sealed record HttpRedirect
{
    public string? Uri { get; init; }
    public string? Authority { get; init; }
    public int? Port { get; init; }
    public string? Scheme { get; init; }
    public int? RedirectCode { get; init; }
}

/// <summary>Answer with a fixed status and body instead of forwarding.</summary>
public sealed record HttpDirectResponse
{
    public int Status { get; init; }
    public HttpBody? Body { get; init; }
}

/// <summary>A body given inline as text or as base64 bytes.</summary>
public sealed record HttpBody
{
    public string? String { get; init; }
    public string? Bytes { get; init; }
}

/// <summary>Rewrites the path (the part the match's uri prefix matched, or all of it) and the authority before forwarding.</summary>
[UnsupportedFields("uriRegexRewrite")]
public sealed record HttpRewrite
{
    public string? Uri { get; init; }
    public string? Authority { get; init; }
}

/// <summary>Delays or aborts a share of requests before they are forwarded, to test callers' resilience.</summary>
public sealed record HttpFaultInjection
{
    public FaultDelay? Delay { get; init; }
    public FaultAbort? Abort { get; init; }
}

[UnsupportedFields("exponentialDelay")]
public sealed record FaultDelay
{
    public TimeSpan? FixedDelay { get; init; }
    public Percent? Percentage { get; init; }

    /// <summary>Deprecated integer percentage of older Istio releases; used when <see cref="Percentage"/> is absent.</summary>
    public int? Percent { get; init; }
}

[UnsupportedFields("http2Error", "grpcStatus")]
public sealed record FaultAbort
{
    public int? HttpStatus { get; init; }
    public Percent? Percentage { get; init; }

    /// <summary>Deprecated integer percentage (Bookinfo's abort sample still uses it); used when <see cref="Percentage"/> is absent.</summary>
    public int? Percent { get; init; }
}

/// <summary>A percentage 0-100, fractions allowed.</summary>
public sealed record Percent
{
    public double Value { get; init; }
}

/// <summary>Header changes on the request forwarded and the response returned.</summary>
public sealed record Headers
{
    public HeaderOperations? Request { get; init; }
    public HeaderOperations? Response { get; init; }
}

public sealed record HeaderOperations
{
    public IReadOnlyDictionary<string, string> Set { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Add { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<string> Remove { get; init; } = [];
}

/// <summary>Conditions of one match block; all must hold. Several blocks of a rule are OR'ed.</summary>
[UnsupportedFields("gateways", "statPrefix", "port", "scheme")]
public sealed record HttpMatchRequest
{
    public string? Name { get; init; }

    /// <summary>Only callers whose instance carries all these labels (the canary pattern); judged where the rules are built, per sidecar.</summary>
    public IReadOnlyDictionary<string, string> SourceLabels { get; init; } = new Dictionary<string, string>();

    /// <summary>Only callers in this namespace.</summary>
    public string? SourceNamespace { get; init; }
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
    public Headers? Headers { get; init; }
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
