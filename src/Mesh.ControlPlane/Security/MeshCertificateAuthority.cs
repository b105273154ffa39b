using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Security;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The mesh CA: a root kept in the data dir (created on first start, or copied from files an operator
/// made, e.g. with certs/make-dev-root.sh) and reused after, so workload certificates stay valid across
/// restarts; the TLS certificate of the sidecar API, issued from it; and workload certificates for CSRs.
/// </summary>
internal sealed class MeshCertificateAuthority
{
    private MeshCertificateAuthority(X509Certificate2 root, X509Certificate2 serving, string trustDomain, string rootPath)
    {
        Root = root;
        Serving = serving;
        TrustDomain = trustDomain;
        RootPath = rootPath;
        RootPem = root.ExportCertificatePem();
    }

    public X509Certificate2 Root { get; }
    public string RootPem { get; }
    public string RootPath { get; }
    public X509Certificate2 Serving { get; }
    public string TrustDomain { get; }

    /// <summary>
    /// The CA from the data dir's root (made or copied on first start); or, with <paramref name="share"/>
    /// (etcd), from the mesh's one root, given this replica's candidate for it: whatever the data dir or
    /// --root-cert hold, or a new one. Only the root's certificate is kept in the data dir then.
    /// </summary>
    public static MeshCertificateAuthority LoadOrCreate(ControlPlaneOptions options, TimeProvider time, Func<Func<X509Certificate2>, X509Certificate2>? share = null)
    {
        var dir = Path.Combine(options.DataDir, "ca");
        Directory.CreateDirectory(dir);
        var certPath = Path.Combine(dir, "root.crt");
        var keyPath = Path.Combine(dir, "root.key");
        X509Certificate2 root;
        if (share is not null)
        {
            var local = File.Exists(certPath) && File.Exists(keyPath) ? X509Certificate2.CreateFromPemFile(certPath, keyPath) : null;
            root = share(() => local ?? (options.RootCertPath is { } given ? LoadGiven(given, options.RootKeyPath!) : CreateRoot(time)));
            if (local is not null && local.Thumbprint != root.Thumbprint)
            {
                throw new InvalidOperationException($"the root in {certPath} differs from the mesh's root on etcd; a mesh keeps one root (move {dir} away to join this mesh)");
            }
            File.WriteAllText(certPath, root.ExportCertificatePem());
        }
        else if (File.Exists(certPath) && File.Exists(keyPath))
        {
            root = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            if (options.RootCertPath is { } given && X509Certificate2.CreateFromPem(File.ReadAllText(given)).Thumbprint != root.Thumbprint)
            {
                throw new InvalidOperationException($"--root-cert {given} differs from the root already in {certPath}; a mesh keeps one root (move the data dir away to start a new mesh)");
            }
        }
        else
        {
            root = options.RootCertPath is { } given ? LoadGiven(given, options.RootKeyPath!) : CreateRoot(time);
            SecretFile.Write(keyPath, root.GetECDsaPrivateKey() is { } ec ? ec.ExportPkcs8PrivateKeyPem() : root.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(certPath, root.ExportCertificatePem());
        }
        // Peered control planes check this certificate by the addresses their token names (--peering-address).
        var peering = options.PeeringAddresses.Select(a => a.DnsSafeHost).ToArray();
        var serving = WorkloadCertificates.IssueServer(root, "mesh-control-plane",
            ["localhost", "mesh-control-plane", Environment.MachineName.ToLowerInvariant(), .. peering.Where(h => !IPAddress.TryParse(h, out _))],
            [IPAddress.Loopback, IPAddress.IPv6Loopback, .. peering.Select(h => IPAddress.TryParse(h, out var ip) ? ip : null).OfType<IPAddress>()],
            time.GetUtcNow(), TimeSpan.FromDays(30));
        return new MeshCertificateAuthority(root, serving, options.TrustDomain, certPath);
    }

    /// <summary>Why a client certificate is not a workload certificate of this mesh, or null (then <paramref name="id"/> is set).</summary>
    public string? Check(X509Certificate2 certificate, DateTimeOffset now, out SpiffeId? id) =>
        WorkloadCertificates.Check(certificate, Root, TrustDomain, now, out id);

    public X509Certificate2 Issue(CertificateRequest csr, SpiffeId id, DateTimeOffset now, TimeSpan lifetime, string? agentScope) =>
        WorkloadCertificates.Issue(csr, id, Root, now, lifetime, agentScope);

    private static X509Certificate2 LoadGiven(string certPath, string keyPath)
    {
        var root = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        var constraints = root.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (constraints is not { CertificateAuthority: true })
        {
            throw new InvalidOperationException($"--root-cert {certPath} is not a CA certificate (basicConstraints CA:TRUE is missing)");
        }
        return root;
    }

    private static X509Certificate2 CreateRoot(TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Mesh Root CA, O=Mesh", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = time.GetUtcNow();
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
    }
}
