using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.ControlPlane.Security;

namespace Mesh.ControlPlane.Tests.Security;

public sealed class WorkloadCertificateValidationTests
{
    [Fact]
    public void Identify_OneSpiffeIdOfTheTrustDomain_IsTheIdentity()
    {
        using var certificate = Certificate("spiffe://cluster.local/ns/shop/sa/reviews");

        Assert.Null(WorkloadCertificateValidation.Identify(certificate, "cluster.local", out var id));
        Assert.Equal(("cluster.local", "shop", "reviews"), (id!.TrustDomain, id.Namespace, id.Service));
    }

    [Theory]
    [InlineData(new string[0], "has no SPIFFE id (spiffe://<trust-domain>/ns/<namespace>/sa/<service>) in its URI SAN")]
    [InlineData(new[] { "https://reviews.example/" }, "has no SPIFFE id")]
    [InlineData(new[] { "spiffe://cluster.local/ns/shop" }, "has a malformed SPIFFE id 'spiffe://cluster.local/ns/shop'")]
    [InlineData(new[] { "spiffe://cluster.local/ns//sa/reviews" }, "has a malformed SPIFFE id")]
    [InlineData(new[] { "spiffe://cluster.local/ns/shop/sa/reviews", "spiffe://cluster.local/ns/shop/sa/ratings" }, "carries 2 SPIFFE ids")]
    [InlineData(new[] { "spiffe://other.example/ns/shop/sa/reviews" }, "is from trust domain 'other.example', not 'cluster.local'")]
    public void Identify_MissingMalformedDoubleOrForeign_IsRefusedWithTheReason(string[] uris, string reason)
    {
        using var certificate = Certificate(uris);

        var problem = WorkloadCertificateValidation.Identify(certificate, "cluster.local", out var id);

        Assert.Null(id);
        Assert.Contains(reason, problem, StringComparison.Ordinal);
    }

    private static X509Certificate2 Certificate(params string[] uris)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test", key, HashAlgorithmName.SHA256);
        if (uris.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var uri in uris)
            {
                san.AddUri(new Uri(uri));
            }
            request.CertificateExtensions.Add(san.Build(true));
        }
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
    }
}
