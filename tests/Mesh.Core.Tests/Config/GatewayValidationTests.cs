using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;

namespace Mesh.Core.Tests.Config;

/// <summary>Gateway resources and VirtualService <c>gateways</c>: what is read, and each error at its field's line and column.</summary>
public sealed class GatewayValidationTests
{
    private const string File = "gateway.yaml";

    private const string BookshopGateway = """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: bookshop-gateway, namespace: shop}
        spec:
          selector: {istio: ingressgateway}
          servers:
          - port: {number: 80, name: http, protocol: HTTP}
            hosts: [shop.example.com]
            tls: {httpsRedirect: true}
          - port: {number: 443, name: https, protocol: HTTPS}
            hosts: [shop.example.com, "*.api.example.com"]
            tls: {mode: SIMPLE, credentialName: shop-cert}
          - port: {number: 443, name: https-admin, protocol: HTTPS}
            hosts: [./admin.example.com]
            tls: {mode: SIMPLE, serverCertificate: /etc/certs/admin.crt, privateKey: /etc/certs/admin.key}
        """;

    /// <summary>A VirtualService of namespace shop, after the bookshop Gateway.</summary>
    private static string WithVirtualService(string name, string hosts, string gateways, string destination = "storefront") => BookshopGateway + $$"""

        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: {{name}}, namespace: shop}
        spec:
          hosts: {{hosts}}
        {{(gateways.Length == 0 ? "" : $"  gateways: {gateways}\n")}}  http:
          - route:
            - destination: {host: {{destination}}}
        """;

    private static ConfigLoadResult Load(string yaml) => ConfigLoader.Load([(File, yaml)]);

    /// <summary>The one problem of <paramref name="severity"/> at <paramref name="path"/>, checked to sit on the marker's line and column.</summary>
    private static ConfigError ProblemAt(string yaml, string path, string marker, ConfigSeverity severity = ConfigSeverity.Error)
    {
        var result = Load(yaml);
        var matching = result.Problems.Where(p => p.Path == path && p.Severity == severity).ToArray();
        Assert.True(matching.Length == 1, $"expected one {severity} at {path}; got:\n{string.Join("\n", result.Problems)}");
        var lines = yaml.Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains(marker, StringComparison.Ordinal));
        Assert.True(line >= 0, $"marker '{marker}' not in the YAML");
        Assert.Equal((File, line + 1, lines[line].IndexOf(marker, StringComparison.Ordinal) + 1), (matching[0].File, matching[0].Line, matching[0].Column));
        return matching[0];
    }

    [Theory]
    [InlineData("networking.istio.io/v1")]
    [InlineData("networking.istio.io/v1beta1")]
    [InlineData("networking.istio.io/v1alpha3")]
    public void Load_Gateway_ReadsServersPortsHostsAndTls(string apiVersion)
    {
        var result = Load(BookshopGateway.Replace("networking.istio.io/v1", apiVersion, StringComparison.Ordinal));

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var gateway = Assert.Single(result.Config!.Gateways);
        Assert.Equal(("shop", "bookshop-gateway"), (gateway.Metadata.Namespace, gateway.Metadata.Name));
        Assert.Equal("ingressgateway", gateway.Spec.Selector["istio"]);
        Assert.Equal([80, 443, 443], gateway.Spec.Servers.Select(s => s.Port!.Number));
        Assert.True(gateway.Spec.Servers[0].Tls!.HttpsRedirect);
        Assert.Equal((ServerTlsMode.Simple, "shop-cert"), (gateway.Spec.Servers[1].Tls!.Mode!.Value, gateway.Spec.Servers[1].Tls!.CredentialName));
        Assert.Equal("/etc/certs/admin.key", gateway.Spec.Servers[2].Tls!.PrivateKey);
    }

    [Fact]
    public void Load_VirtualServiceGateways_NamedAndMeshAccepted()
    {
        var result = Load(WithVirtualService("storefront", "[shop.example.com, storefront]", "[bookshop-gateway, shop/bookshop-gateway, mesh]")
            + WithVirtualService("any-api", "[\"*\"]", "[bookshop-gateway]", "catalog")[BookshopGateway.Length..]);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.Equal(["bookshop-gateway", "shop/bookshop-gateway", "mesh"], result.Config!.VirtualServices[0].Spec.Gateways);
    }

    public static TheoryData<string, string, string, string> GatewayErrors => new()
    {
        // the servers YAML, marker, field path, message fragment
        { "  - port: {number: 9443, name: tls, protocol: TLS}\n    hosts: [a.example.com]", "TLS}", "spec.servers[0].port.protocol", "protocol 'TLS' is not served" },
        { "  - port: {number: 70000, name: http, protocol: HTTP}\n    hosts: [a.example.com]", "70000", "spec.servers[0].port.number", "port number 70000 is out of range" },
        { "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]", "port: {number: 443", "spec.servers[0].tls", "an HTTPS server needs tls" },
        { "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: PASSTHROUGH}", "PASSTHROUGH", "spec.servers[0].tls.mode", "tls.mode PASSTHROUGH is not implemented" },
        { "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE}", "{mode: SIMPLE}", "spec.servers[0].tls", "needs credentialName" },
        { "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credentialName: a, serverCertificate: /x.crt, privateKey: /x.key}", "{mode: SIMPLE, credentialName: a, server", "spec.servers[0].tls", "not both" },
        { "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credentialName: ../etc}", "../etc", "spec.servers[0].tls.credentialName", "must be a plain name" },
        { "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credentialName: a, minProtocolVersion: TLSV1_3}", "minProtocolVersion", "spec.servers[0].tls.minProtocolVersion", "does not implement" },
        { "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credentialName: a}", "{mode: SIMPLE, credentialName: a}", "spec.servers[0].tls", "takes only tls.httpsRedirect" },
        { "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: []", "[]", "spec.servers[0].hosts", "at least one host" },
        { "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [bad_host!]", "bad_host!", "spec.servers[0].hosts[0]", "is not a valid host" },
        { "  - port: {number: 80, name: http, protocol: HTTP}\n    bind: 0.0.0.0\n    hosts: [a.example.com]", "bind", "spec.servers[0].bind", "does not implement" },
        { "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a.example.com]\n  - port: {number: 80, name: http2, protocol: HTTPS}\n    hosts: [b.example.com]\n    tls: {mode: SIMPLE, credentialName: b}", "HTTPS}", "spec.servers[1].port.protocol", "port 80 is HTTP in spec.servers[0]" },
        { "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a.example.com]\n  - port: {number: 80, name: other, protocol: HTTP}\n    hosts: [A.example.com]", "A.example.com", "spec.servers[1].hosts[0]", "served twice on port 80" },
        { "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a.example.com]\n  - port: {name: http, number: 81, protocol: HTTP}\n    hosts: [b.example.com]", "http, number: 81", "spec.servers[1].port.name", "already used" },
    };

    [Theory]
    [MemberData(nameof(GatewayErrors))]
    public void Load_BadGateway_ErrorAtTheField(string servers, string marker, string path, string message)
    {
        var yaml = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  servers:\n" + servers + "\n";
        var error = ProblemAt(yaml, path, marker);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BadGatewayFile_ReportsEveryErrorAtOnce()
    {
        var result = Load("""
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: g}
            spec:
              servers:
              - port: {number: 0, name: http, protocol: HTTP}
                hosts: [a.example.com]
              - port: {number: 443, name: https, protocol: HTTPS}
                hosts: ["a/b/c"]
                tls: {mode: ISTIO_MUTUAL}
              - port: {number: 443, name: tcp, protocol: TCP}
                hosts: [t.example.com]
            """);

        var paths = result.Errors.Select(e => e.Path).ToArray();
        // The TCP server is one error (its protocol), not also a clash with the HTTPS server on its port.
        Assert.Equal(["spec.servers[0].port.number", "spec.servers[1].hosts[0]", "spec.servers[1].tls.mode", "spec.servers[2].port.protocol"], paths.Order(StringComparer.Ordinal));
        Assert.Contains("spec.servers[0].port.number", paths);
        Assert.Contains("spec.servers[1].hosts[0]", paths);
        Assert.Contains("spec.servers[1].tls.mode", paths);
    }

    [Fact]
    public void Load_VirtualServiceNamesUnknownGateway_ErrorListsKnownOnes()
    {
        var yaml = WithVirtualService("storefront", "[shop.example.com]", "[other-gateway, \"bad/name/x\"]");

        var unknown = ProblemAt(yaml, "spec.gateways[0]", "other-gateway");
        Assert.Contains("gateway 'other-gateway' is not defined: no Gateway 'other-gateway' in namespace 'shop' (known: shop/bookshop-gateway)", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("is not a gateway name", ProblemAt(yaml, "spec.gateways[1]", "\"bad/name/x\"").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WildcardHostBoundToMesh_IsAnError()
    {
        var yaml = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: all}
            spec:
              hosts: ["*"]
              http:
              - route:
                - destination: {host: storefront}
            """;

        Assert.Contains("only in a VirtualService bound to gateways alone", ProblemAt(yaml, "spec.hosts[0]", "\"*\"").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_HostNoServerOfTheGatewayServes_IsAWarning()
    {
        var yaml = WithVirtualService("storefront", "[elsewhere.example.org]", "[bookshop-gateway]");

        var warning = ProblemAt(yaml, "spec.hosts[0]", "elsewhere.example.org", ConfigSeverity.Warning);
        Assert.Contains("matches no server host of Gateway shop/bookshop-gateway", warning.Message, StringComparison.Ordinal);
        Assert.True(Load(yaml).Succeeded);
    }

    [Fact]
    public void Load_SameHostForMeshAndForGateway_IsNoConflict()
    {
        var result = Load(WithVirtualService("edge", "[shop.example.com]", "[bookshop-gateway]")
            + WithVirtualService("inside", "[shop.example.com]", "", "catalog")[BookshopGateway.Length..]);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.DoesNotContain(result.Problems, p => p.Message.Contains("already routed", StringComparison.Ordinal));
    }
}
