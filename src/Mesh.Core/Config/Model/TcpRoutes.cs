namespace Mesh.Core.Config.Model;

/// <summary>A <c>tcp:</c> rule of a VirtualService: connections matched by port (and caller) go to weighted
/// destinations as opaque bytes. Rules are tried in order; the first match wins, per connection.</summary>
public sealed record TcpRoute
{
    public IReadOnlyList<L4MatchAttributes> Match { get; init; } = [];
    public IReadOnlyList<RouteDestination> Route { get; init; } = [];
}

/// <summary>A <c>tls:</c> rule: TLS connections the sidecar does not terminate, matched by the SNI of their
/// ClientHello (and port) and passed through untouched to weighted destinations.</summary>
public sealed record TlsRoute
{
    public IReadOnlyList<TlsMatchAttributes> Match { get; init; } = [];
    public IReadOnlyList<RouteDestination> Route { get; init; } = [];
}

/// <summary>Conditions of a connection; all must hold. Several blocks of a rule are OR'ed.</summary>
[UnsupportedFields("destinationSubnets", "sourceSubnet", "gateways")]
public sealed record L4MatchAttributes
{
    /// <summary>The service port the caller connects to (Istio's destination port).</summary>
    public int? Port { get; init; }

    public IReadOnlyDictionary<string, string> SourceLabels { get; init; } = new Dictionary<string, string>();
    public string? SourceNamespace { get; init; }
}

[UnsupportedFields("destinationSubnets", "gateways")]
public sealed record TlsMatchAttributes
{
    /// <summary>Server names of the ClientHello; <c>*.example.com</c> matches one or more leading labels, as in Envoy.</summary>
    public IReadOnlyList<string> SniHosts { get; init; } = [];

    public int? Port { get; init; }
    public IReadOnlyDictionary<string, string> SourceLabels { get; init; } = new Dictionary<string, string>();
    public string? SourceNamespace { get; init; }
}

/// <summary>One weighted destination of a tcp or tls rule (no header edits: there are no headers).</summary>
public sealed record RouteDestination
{
    public Destination? Destination { get; init; }
    public int? Weight { get; init; }
}
