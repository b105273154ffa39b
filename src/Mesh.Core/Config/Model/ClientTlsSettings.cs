namespace Mesh.Core.Config.Model;

/// <summary>How a sidecar speaks TLS to a destination.</summary>
[UnsupportedFields("credentialName", "caCrl")]
public sealed record ClientTlsSettings
{
    public TlsMode? Mode { get; init; }

    /// <summary>MUTUAL: the client certificate (PEM file on the sidecar's machine) presented to the external host.</summary>
    public string? ClientCertificate { get; init; }

    /// <summary>MUTUAL: its private key (PEM file on the sidecar's machine).</summary>
    public string? PrivateKey { get; init; }

    /// <summary>SIMPLE and MUTUAL to hosts outside the mesh: the roots (PEM file) the server must chain to, instead of the system's.</summary>
    public string? CaCertificates { get; init; }
    public IReadOnlyList<string> SubjectAltNames { get; init; } = [];
    public string? Sni { get; init; }
    public bool? InsecureSkipVerify { get; init; }
}

public enum TlsMode
{
    Disable,
    Simple,
    Mutual,
    IstioMutual,
}
