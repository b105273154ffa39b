using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The mesh root CA kept in the data dir (created on first start, reused after, so certificates it
/// issued stay valid across restarts) and the TLS certificate the sidecar API serves, issued from it.
/// </summary>
internal sealed class ControlPlaneCertificates
{
    private ControlPlaneCertificates(X509Certificate2 root, X509Certificate2 serving)
    {
        Root = root;
        Serving = serving;
    }

    public X509Certificate2 Root { get; }
    public X509Certificate2 Serving { get; }

    public static ControlPlaneCertificates LoadOrCreate(string dataDir, TimeProvider time)
    {
        var dir = Path.Combine(dataDir, "ca");
        Directory.CreateDirectory(dir);
        var certPath = Path.Combine(dir, "root.crt");
        var keyPath = Path.Combine(dir, "root.key");
        X509Certificate2 root;
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            root = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        else
        {
            root = CreateRoot(time);
            WritePrivate(keyPath, root.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(certPath, root.ExportCertificatePem());
        }
        return new ControlPlaneCertificates(root, IssueServing(root, time));
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

    private static X509Certificate2 IssueServing(X509Certificate2 root, TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=mesh-control-plane", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddDnsName("mesh-control-plane");
        san.AddDnsName(Environment.MachineName.ToLowerInvariant());
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = time.GetUtcNow();
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(root, now.AddMinutes(-5), now.AddDays(30), serial);
        return issued.CopyWithPrivateKey(key);
    }

    private static void WritePrivate(string path, string pem)
    {
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // the key is readable by its owner only
        }
        using var stream = new FileStream(path, fileOptions);
        using var writer = new StreamWriter(stream);
        writer.Write(pem);
    }
}
