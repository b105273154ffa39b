using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Config.Model;

namespace Mesh.Sidecar.Gateway;

/// <summary>
/// An HTTPS server's certificate (with the chain in its file) and, for MUTUAL, the roots client
/// certificates must chain to; loaded from PEM files on the gateway's machine.
/// </summary>
internal sealed record GatewayTlsMaterial(SslStreamCertificateContext? Certificate, X509Certificate2Collection? ClientRoots, string? Problem)
{
    /// <summary>The files read, each with its write time from just before reading it, so a newer file on disk is noticed (a missing one has the earliest time).</summary>
    public IReadOnlyList<(string Path, DateTime Written)> Files { get; init; } = [];

    /// <summary>Whether a file was written (or appeared, or went) since it was read.</summary>
    public bool Changed => Files.Any(f => File.GetLastWriteTimeUtc(f.Path) != f.Written);

    /// <summary>
    /// <c>credentialName</c> NAME is the directory <c>--credentials-dir</c>/NAME with <c>tls.crt</c>, <c>tls.key</c>
    /// and <c>ca.crt</c> (a Kubernetes TLS secret's keys); otherwise <c>serverCertificate</c>, <c>privateKey</c>
    /// and <c>caCertificates</c> are paths as written.
    /// </summary>
    public static GatewayTlsMaterial Load(ServerTlsSettings tls, string? credentialsDir)
    {
        string certificate, key;
        var ca = tls.CaCertificates;
        if (tls.CredentialName is { } name)
        {
            if (credentialsDir is null)
            {
                return new(null, null, $"credentialName '{name}' needs the gateway's --credentials-dir");
            }
            var dir = Path.Combine(credentialsDir, name);
            (certificate, key) = (Path.Combine(dir, "tls.crt"), Path.Combine(dir, "tls.key"));
            ca ??= tls.Mode == ServerTlsMode.Mutual ? Path.Combine(dir, "ca.crt") : null;
        }
        else
        {
            (certificate, key) = (tls.ServerCertificate ?? "", tls.PrivateKey ?? "");
        }
        var files = new[] { certificate, key, ca }.OfType<string>().Select(f => (f, File.GetLastWriteTimeUtc(f))).ToArray();
        try
        {
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(certificate);
            using var leaf = X509Certificate2.CreateFromPemFile(certificate, key);
            // An ephemeral key cannot serve TLS on every platform; a PKCS#12 round trip makes it a stored one.
            var usable = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
            var context = SslStreamCertificateContext.Create(usable, new X509Certificate2Collection(chain.Skip(1).ToArray()), offline: true);
            X509Certificate2Collection? roots = null;
            if (tls.Mode == ServerTlsMode.Mutual)
            {
                roots = new X509Certificate2Collection();
                roots.ImportFromPemFile(ca!);
            }
            return new(context, roots, null) { Files = files };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            return new(null, null, $"cannot load the certificate {certificate} with key {key}{(ca is null ? "" : $" and roots {ca}")}: {e.Message}") { Files = files };
        }
    }

    /// <summary>Whether a client's certificate chains to <see cref="ClientRoots"/> (MUTUAL).</summary>
    public bool Trusts(X509Certificate? presented)
    {
        if (ClientRoots is null || presented is null)
        {
            return ClientRoots is null;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(ClientRoots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var certificate = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        return chain.Build(certificate);
    }
}
