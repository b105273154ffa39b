using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>Certificates an attacker (or a test playing one) can make, and clients that present them.</summary>
internal static class TestCertificates
{
    public static string Spiffe(string service, string ns = "default", string trustDomain = "cluster.local") =>
        $"spiffe://{trustDomain}/ns/{ns}/sa/{service}";

    /// <summary>The mesh root with its private key, read from the control plane's data dir (what a thief of that dir would have).</summary>
    public static X509Certificate2 MeshRoot(ControlPlane cp) =>
        X509Certificate2.CreateFromPemFile(Path.Combine(cp.DataDir, "ca", "root.crt"), Path.Combine(cp.DataDir, "ca", "root.key"));

    /// <summary>A CA nobody in the mesh trusts (an attacker's, or the public CA of a gateway's certificates).</summary>
    public static X509Certificate2 ForeignCa(string subject = "CN=Attacker Root CA")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    /// <summary>A workload-style certificate for <paramref name="spiffeId"/> signed by <paramref name="issuer"/>.</summary>
    public static X509Certificate2 Workload(X509Certificate2 issuer, string spiffeId, DateTimeOffset notBefore, DateTimeOffset notAfter) =>
        Workload(issuer, [spiffeId], notBefore, notAfter);

    /// <summary>The same with any URI SANs (none, two, malformed ones); without any, the certificate has no SAN extension.</summary>
    public static X509Certificate2 Workload(X509Certificate2 issuer, IReadOnlyList<string> uris, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test-workload", key, HashAlgorithmName.SHA256);
        if (uris.Count > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var uri in uris)
            {
                san.AddUri(new Uri(uri));
            }
            request.CertificateExtensions.Add(san.Build(true));
        }
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var cert = request.Create(issuer, notBefore, notAfter, RandomNumberGenerator.GetBytes(12));
        // Through PEM, so the key is usable by TLS on every platform.
        return X509Certificate2.CreateFromPem(cert.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A CSR in PEM for <paramref name="spiffeId"/>, with its key.</summary>
    public static (ECDsa Key, string Pem) Csr(string spiffeId, X509Extension? extra = null)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test-workload", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        request.CertificateExtensions.Add(san.Build(true));
        if (extra is not null)
        {
            request.CertificateExtensions.Add(extra);
        }
        return (key, request.CreateSigningRequestPem());
    }

    /// <summary>An HTTPS client that trusts any server and presents <paramref name="clientCertificate"/> (if any).</summary>
    public static HttpClient Client(X509Certificate2? clientCertificate, Version? version = null) => Client(clientCertificate, version, null);

    /// <summary>The same, connecting from <paramref name="from"/> (any 127.x.y.z works on loopback), so a test can play many hosts.</summary>
    public static HttpClient Client(X509Certificate2? clientCertificate, Version? version, IPAddress? from)
    {
        var handler = new SocketsHttpHandler { UseProxy = false };
        if (from is not null)
        {
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(from, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        if (clientCertificate is not null)
        {
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }
        return new HttpClient(handler)
        {
            Timeout = TimeSpan.FromSeconds(10),
            DefaultRequestVersion = version ?? HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    /// <summary>Asks the CA for a certificate; returns the status and, on success, the certificate with its key.</summary>
    public static async Task<(HttpStatusCode Status, string Body, X509Certificate2? Certificate)> RequestAsync(HttpClient client, ControlPlane cp, string spiffeId, string? joinToken, X509Extension? extra = null)
    {
        var (key, pem) = Csr(spiffeId, extra);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(cp.SidecarApi, "/v1/certificates")) { Content = JsonContent.Create(new { csr = pem }) };
        if (joinToken is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", joinToken);
        }
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            return (response.StatusCode, body, null);
        }
        using var json = JsonDocument.Parse(body);
        using var leaf = X509Certificate2.CreateFromPem(json.RootElement.GetProperty("certificate").GetString());
        return (response.StatusCode, body, X509Certificate2.CreateFromPem(leaf.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem()));
    }
}
