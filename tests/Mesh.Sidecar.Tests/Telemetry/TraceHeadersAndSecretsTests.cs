using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Mesh.Observability;
using Mesh.Sidecar.Telemetry;

namespace Mesh.Sidecar.Tests.Telemetry;

public sealed class TraceHeadersAndSecretsTests
{
    private static readonly B3Propagator Propagator = new(DistributedContextPropagator.CreateW3CPropagator());

    [Theory]
    [InlineData("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1", "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01")]
    [InlineData("b3", "64fe8b2a57d3eff7-e457b5a2e4d86bd1-0", "00-000000000000000064fe8b2a57d3eff7-e457b5a2e4d86bd1-00")]
    [InlineData("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1", "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01")]
    [InlineData("b3", "0", null)]
    [InlineData("b3", "not-hex-at-all", null)]
    [InlineData("b3", "00000000000000000000000000000000-e457b5a2e4d86bd1-1", null)]
    public void B3SingleHeader_BecomesTraceParent(string header, string value, string? traceParent)
    {
        Propagator.ExtractTraceIdAndState(new Dictionary<string, string> { [header] = value }, Get, out var extracted, out _);
        Assert.Equal(traceParent, extracted);
    }

    [Fact]
    public void B3MultiHeader_BecomesTraceParent_AndW3CWinsWhenBothAreSent()
    {
        var multi = new Dictionary<string, string>
        {
            ["x-b3-traceid"] = "463AC35C9F6413AD48485A3953BB6124",
            ["x-b3-spanid"] = "a2fb4a1d1a96d312",
            ["x-b3-sampled"] = "1",
        };
        Propagator.ExtractTraceIdAndState(multi, Get, out var fromB3, out _);
        Assert.Equal("00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01", fromB3);

        multi["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        Propagator.ExtractTraceIdAndState(multi, Get, out var preferred, out _);
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", preferred);
    }

    [Fact]
    public void Redactor_BlanksKeysTokensAndSecretsAtAnyDepth_AndKeepsPublicFields()
    {
        var node = JsonNode.Parse("""
            {"joinToken":"s3cr3t","certificate":"-----BEGIN CERTIFICATE-----","nested":[{"privateKey":"-----BEGIN PRIVATE KEY-----","keyId":"abc","adminToken":"t"}],"clientSecret":{"a":1},"version":3}
            """);
        var text = SecretRedactor.Redact(node)!.ToJsonString();

        Assert.DoesNotContain("s3cr3t", text, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"t\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"a\":1", text, StringComparison.Ordinal);
        Assert.Contains("BEGIN CERTIFICATE", text, StringComparison.Ordinal);
        Assert.Contains("\"keyId\":\"abc\"", text, StringComparison.Ordinal);
        Assert.Contains("\"version\":3", text, StringComparison.Ordinal);
    }

    [Fact]
    public void PeerIdentity_IsTheSpiffeIdOfTheClientCertificate()
    {
        using var key = ECDsa.Create();
        var request = new CertificateRequest("CN=reviews", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("reviews.default");
        san.AddUri(new Uri("spiffe://cluster.local/ns/shop/sa/reviews"));
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(5));

        Assert.Equal(new Mesh.Core.Security.SpiffeId("cluster.local", "shop", "reviews"), Mesh.Core.Security.SpiffeId.FromCertificate(certificate));
        Assert.Null(Mesh.Core.Security.SpiffeId.FromCertificate(null));
    }

    private static void Get(object? carrier, string name, out string? value, out IEnumerable<string>? values)
    {
        values = null;
        value = carrier is Dictionary<string, string> headers && headers.TryGetValue(name, out var v) ? v : null;
    }
}
