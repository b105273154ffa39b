using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Config.Model;

namespace Mesh.Sidecar.Transport;

/// <summary>
/// TLS origination to a host outside the mesh, from its DestinationRule: SIMPLE checks the server against
/// <c>caCertificates</c> (else the system's roots), its <c>subjectAltNames</c> and <c>sni</c>; MUTUAL also
/// presents <c>clientCertificate</c> and <c>privateKey</c>. The files are read on this sidecar's machine when
/// the cluster's connection handler is made (a new config, or every <see cref="MeshTransport.ConnectionLifetime"/>
/// for rotated files); one that cannot be read fails the calls to that host with the reason in the log, and
/// nothing else.
/// </summary>
internal static class ExternalTls
{
    private const string CertificateKey = "mesh.tls.client-certificate";
    private const string PrivateKeyKey = "mesh.tls.private-key";
    private const string CaKey = "mesh.tls.ca-certificates";
    private const string SniKey = "mesh.tls.sni";
    private const string SansKey = "mesh.tls.subject-alt-names";
    private const string InsecureKey = "mesh.tls.insecure-skip-verify";

    /// <summary>Puts the DestinationRule's TLS settings in the cluster's metadata, where the handler factory reads them.</summary>
    public static void Describe(ClientTlsSettings tls, Dictionary<string, string> metadata)
    {
        if (tls.Mode == TlsMode.Mutual)
        {
            metadata[CertificateKey] = tls.ClientCertificate ?? "";
            metadata[PrivateKeyKey] = tls.PrivateKey ?? "";
        }
        if (tls.CaCertificates is { Length: > 0 } ca)
        {
            metadata[CaKey] = ca;
        }
        if (tls.Sni is { Length: > 0 } sni)
        {
            metadata[SniKey] = sni;
        }
        if (tls.SubjectAltNames.Count > 0)
        {
            metadata[SansKey] = string.Join(',', tls.SubjectAltNames);
        }
        if (tls.InsecureSkipVerify == true)
        {
            metadata[InsecureKey] = "true";
        }
    }

    public static bool Applies(IReadOnlyDictionary<string, string> metadata) =>
        metadata.ContainsKey(CertificateKey) || metadata.ContainsKey(CaKey) || metadata.ContainsKey(SniKey) || metadata.ContainsKey(SansKey) || metadata.ContainsKey(InsecureKey);

    /// <summary>Configures the handler; the problem (a file that cannot be read) when it cannot, or null.</summary>
    public static string? Configure(SocketsHttpHandler handler, IReadOnlyDictionary<string, string> metadata)
    {
        handler.PooledConnectionLifetime = MeshTransport.ConnectionLifetime; // picks up rotated files
        string? problem = null;
        if (metadata.TryGetValue(CertificateKey, out var certificatePath))
        {
            var files = new RotatingCertificate(certificatePath, metadata[PrivateKeyKey]);
            problem = files.Problem;
            // Asked at each handshake (connections are remade at least every ConnectionLifetime), so rotated
            // files are picked up; without a certificate a server that requires one refuses, and calls fail.
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => files.Current!;
        }
        if (metadata.TryGetValue(SniKey, out var sni))
        {
            handler.SslOptions.TargetHost = sni;
        }
        X509Certificate2Collection? roots = null;
        if (metadata.TryGetValue(CaKey, out var caPath))
        {
            try
            {
                roots = [];
                roots.ImportFromPemFile(caPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                problem = (problem is null ? "" : problem + "; ") + $"caCertificates {caPath} cannot be read: {e.Message}";
                roots = []; // trust nothing rather than fall back to the system's roots
            }
        }
        var sans = metadata.TryGetValue(SansKey, out var list) ? list.Split(',') : [];
        var insecure = metadata.ContainsKey(InsecureKey);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            insecure || Verify(certificate as X509Certificate2, chain, errors, roots, sans);
        return problem;
    }

    private static bool Verify(X509Certificate2? certificate, X509Chain? systemChain, SslPolicyErrors errors, X509Certificate2Collection? roots, string[] sans)
    {
        if (certificate is null)
        {
            return false;
        }
        if (roots is null)
        {
            // The system's roots; with subjectAltNames named, the host name check is replaced by theirs.
            var tolerated = sans.Length > 0 ? SslPolicyErrors.RemoteCertificateNameMismatch : SslPolicyErrors.None;
            if ((errors & ~tolerated) != SslPolicyErrors.None)
            {
                return false;
            }
        }
        else
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (systemChain is not null)
            {
                foreach (var element in systemChain.ChainElements.Skip(1))
                {
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }
            if (!chain.Build(certificate))
            {
                return false;
            }
            if (sans.Length == 0 && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            {
                return false;
            }
        }
        return sans.Length == 0 || sans.Any(san => certificate.MatchesHostname(san, allowWildcards: true, allowCommonName: false)
            || Uris(certificate).Contains(san, StringComparer.Ordinal));
    }

    private static IEnumerable<string> Uris(X509Certificate2 certificate) =>
        certificate.Extensions.Where(e => e.Oid?.Value == "2.5.29.17").SelectMany(Mesh.Core.Security.SpiffeId.UriNames);

    /// <summary>A client certificate and key from files, loaded again when either file's write time changes; the last good one is kept.</summary>
    private sealed class RotatingCertificate
    {
        private readonly string _certificatePath;
        private readonly string _keyPath;
        private readonly Lock _gate = new();
        private (DateTime, DateTime) _stamp;
        private X509Certificate2? _current;

        public RotatingCertificate(string certificatePath, string keyPath)
        {
            (_certificatePath, _keyPath) = (certificatePath, keyPath);
            Load();
        }

        public string? Problem { get; private set; }

        public X509Certificate2? Current
        {
            get
            {
                lock (_gate)
                {
                    if (Stamp() != _stamp)
                    {
                        Load();
                    }
                    return _current;
                }
            }
        }

        private (DateTime, DateTime) Stamp() => (File.GetLastWriteTimeUtc(_certificatePath), File.GetLastWriteTimeUtc(_keyPath));

        private void Load()
        {
            _stamp = Stamp();
            try
            {
                _current = X509Certificate2.CreateFromPemFile(_certificatePath, _keyPath);
                Problem = null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                Problem = $"client certificate {_certificatePath} with key {_keyPath} cannot be loaded: {e.Message}";
            }
        }
    }
}
