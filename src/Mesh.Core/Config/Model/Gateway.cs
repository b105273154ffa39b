namespace Mesh.Core.Config.Model;

/// <summary>
/// networking.istio.io Gateway: the ports, hosts and TLS of an ingress gateway, a sidecar started with
/// <c>--gateway NAME</c> that takes callers from outside the mesh. VirtualServices bind to it by name
/// in their <c>gateways</c>.
/// </summary>
public sealed record Gateway
{
    /// <summary>Which workloads run the gateway in Istio; Mesh picks the Gateway by its name (<c>--gateway</c>), so only carried.</summary>
    public IReadOnlyDictionary<string, string> Selector { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<GatewayServer> Servers { get; init; } = [];
}

/// <summary>One port of the gateway with the hosts it serves there.</summary>
[UnsupportedFields("bind", "defaultEndpoint")]
public sealed record GatewayServer
{
    public GatewayPort? Port { get; init; }

    /// <summary><c>[namespace/]host</c>: host is a name, <c>*.suffix</c> or <c>*</c>; namespace (<c>*</c>, <c>.</c> or a name) limits which VirtualServices may bind.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];

    public ServerTlsSettings? Tls { get; init; }
    public string? Name { get; init; }
}

[UnsupportedFields("targetPort")]
public sealed record GatewayPort
{
    public int Number { get; init; }
    public string Name { get; init; } = "";
    public string? Protocol { get; init; }
}

/// <summary>TLS of an HTTPS server (mode SIMPLE or MUTUAL), or the HTTP to HTTPS redirect of an HTTP server.</summary>
[UnsupportedFields("caCrl", "credentialNames", "tlsCertificates", "subjectAltNames", "verifyCertificateSpki", "verifyCertificateHash",
    "minProtocolVersion", "maxProtocolVersion", "cipherSuites")]
public sealed record ServerTlsSettings
{
    public bool HttpsRedirect { get; init; }
    public ServerTlsMode? Mode { get; init; }
    public string? ServerCertificate { get; init; }
    public string? PrivateKey { get; init; }
    public string? CaCertificates { get; init; }
    public string? CredentialName { get; init; }
}

public enum ServerTlsMode
{
    Passthrough,
    Simple,
    Mutual,
    AutoPassthrough,
    IstioMutual,
    OptionalMutual,
}
