namespace Mesh.Core.Config.Model;

/// <summary>How a sidecar speaks TLS to a destination.</summary>
[UnsupportedFields("credentialName", "clientCertificate", "privateKey", "caCrl")]
public sealed record ClientTlsSettings
{
    public TlsMode? Mode { get; init; }
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
