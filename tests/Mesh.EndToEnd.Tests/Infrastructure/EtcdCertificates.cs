using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// PEM files for an etcd cluster with client TLS, made by the test (<see cref="CertificateRequest"/>): a CA,
/// etcd's serving certificate for 127.0.0.1 and localhost, and a client certificate etcd's
/// <c>--client-cert-auth</c> accepts (etcdctl and the control plane use it).
/// </summary>
internal sealed record EtcdCertificates(string CaCert, string ServerCert, string ServerKey, string ClientCert, string ClientKey)
{
    public static EtcdCertificates Write(string dir)
    {
        Directory.CreateDirectory(dir);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=etcd test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        var files = new EtcdCertificates(Path.Combine(dir, "ca.crt"), Path.Combine(dir, "server.crt"), Path.Combine(dir, "server.key"),
            Path.Combine(dir, "client.crt"), Path.Combine(dir, "client.key"));
        File.WriteAllText(files.CaCert, ca.ExportCertificatePem());
        Issue(ca, "CN=etcd", server: true, files.ServerCert, files.ServerKey);
        Issue(ca, "CN=mesh-control-plane", server: false, files.ClientCert, files.ClientKey);
        return files;
    }

    /// <summary>An HTTP client that trusts only this CA and presents the client certificate (etcd's /health with --client-cert-auth).</summary>
    public SocketsHttpHandler Handler()
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(CaCert));
        var handler = new SocketsHttpHandler { UseProxy = false };
        handler.SslOptions.ClientCertificates = [X509CertificateLoader.LoadPkcs12(X509Certificate2.CreateFromPemFile(ClientCert, ClientKey).Export(X509ContentType.Pkcs12), null)];
        handler.SslOptions.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, CustomTrustStore = { ca } };
        return handler;
    }

    private static void Issue(X509Certificate2 ca, string subject, bool server, string certPath, string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        // etcd's members serve clients and also dial each other's client port (the gRPC gateway): both usages on the server's.
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(server ? [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")] : [new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var cert = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), ca.NotAfter.ToUniversalTime().AddHours(-1), RandomNumberGenerator.GetBytes(12));
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
    }
}
