using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Security;

namespace Mesh.Core.Tests.Security;

public sealed class WorkloadCertificatesTests
{
    private static readonly SpiffeId Reviews = new("cluster.local", "default", "reviews");

    private static X509Certificate2 Root(string name = "Test Root")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1)); // made this instant
    }

    private static X509Certificate2 IssueFor(X509Certificate2 root, SpiffeId id, DateTimeOffset now, TimeSpan lifetime)
    {
        var (key, pem) = WorkloadCertificates.CreateRequest(id);
        using (key)
        {
            var csr = CertificateRequest.LoadSigningRequestPem(pem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
            Assert.Equal(id, WorkloadCertificates.RequestedId(csr));
            using var issued = WorkloadCertificates.Issue(csr, id, root, now, lifetime);
            return issued.CopyWithPrivateKey(key);
        }
    }

    [Fact]
    public void A_certificate_issued_from_a_root_made_a_moment_ago_checks_out_with_its_identity()
    {
        using var root = Root();
        var now = DateTimeOffset.UtcNow;
        using var cert = IssueFor(root, Reviews, now, TimeSpan.FromHours(1));
        Assert.Null(WorkloadCertificates.Check(cert, root, "cluster.local", now, out var id));
        Assert.Equal(Reviews, id);
        Assert.True(cert.NotBefore.ToUniversalTime() >= root.NotBefore.ToUniversalTime());
    }

    [Fact]
    public void Expired_foreign_and_other_domain_certificates_are_refused_with_the_reason()
    {
        using var root = Root();
        using var other = Root("Other Root");
        var now = DateTimeOffset.UtcNow;
        using var cert = IssueFor(root, Reviews, now, TimeSpan.FromSeconds(30));
        Assert.Contains("is not valid now", WorkloadCertificates.Check(cert, root, "cluster.local", now.AddMinutes(1), out _), StringComparison.Ordinal);
        Assert.Contains("does not chain to the mesh root", WorkloadCertificates.Check(cert, other, "cluster.local", now, out _), StringComparison.Ordinal);
        Assert.Contains("not 'example.org'", WorkloadCertificates.Check(cert, root, "example.org", now, out var id), StringComparison.Ordinal);
        Assert.Null(id);
    }

    [Fact]
    public void A_certificate_without_a_spiffe_id_is_refused()
    {
        using var root = Root();
        using var server = WorkloadCertificates.IssueServer(root, "localhost", ["localhost"], [], DateTimeOffset.UtcNow, TimeSpan.FromHours(1));
        Assert.Contains("has no SPIFFE id", WorkloadCertificates.Check(server, root, "cluster.local", DateTimeOffset.UtcNow, out _), StringComparison.Ordinal);
    }
}
