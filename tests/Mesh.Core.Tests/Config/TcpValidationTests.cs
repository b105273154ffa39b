using Mesh.Core.Config.Loading;

namespace Mesh.Core.Tests.Config;

/// <summary>VirtualService tcp and tls rules and ServiceEntry TCP ports: accepted as Istio writes them, and each
/// mistake reported at its line and column with the offending value, all of them at once.</summary>
public sealed class TcpValidationTests
{
    private const string File = "tcp.yaml";

    private const string Entries = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: tcp-echo}
        spec:
          host: tcp-echo
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: orders-db}
        spec:
          hosts: [orders-db.example.com]
          ports:
          - {number: 5432, name: postgres, protocol: TCP}
          - {number: 8080, name: admin, protocol: HTTP}
          resolution: DNS
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: api}
        spec:
          hosts: [api.example.com]
          ports: [{number: 443, name: tls, protocol: TLS}]
          resolution: DNS
        ---

        """;

    private static string Tcp(string rules, string host = "tcp-echo") => $$"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: routes}
        spec:
          hosts: [{{host}}]
        {{rules}}
        """;

    private static ConfigLoadResult Load(string yaml) => ConfigLoader.Load([(File, Entries + yaml)]);

    [Fact]
    public void Load_IstioTcpShiftingSniPassthroughAndTcpServiceEntry_AreAccepted()
    {
        var result = Load(Tcp("""
              tcp:
              - match: [{port: 9000, sourceLabels: {app: sleep}}]
                route:
                - {destination: {host: tcp-echo, port: {number: 9000}, subset: v1}, weight: 20}
                - {destination: {host: tcp-echo, port: {number: 9000}, subset: v2}, weight: 80}
              - route:
                - destination: {host: orders-db.example.com, port: {number: 5432}}
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: api}
            spec:
              hosts: [api.example.com]
              tls:
              - match: [{port: 443, sniHosts: [api.example.com]}]
                route:
                - destination: {host: api.example.com, port: {number: 443}}
            """));

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var tcp = result.Config!.VirtualServices.Single(v => v.Metadata.Name == "routes").Spec.Tcp;
        Assert.Equal([20, 80], tcp[0].Route.Select(r => r.Weight));
        Assert.Equal(9000, tcp[0].Match[0].Port);
        Assert.Equal("sleep", tcp[0].Match[0].SourceLabels["app"]);
        var tls = result.Config.VirtualServices.Single(v => v.Metadata.Name == "api").Spec.Tls;
        Assert.Equal(["api.example.com"], tls[0].Match[0].SniHosts);
        Assert.DoesNotContain(result.Problems, p => p.Severity == ConfigSeverity.Warning && p.Message.Contains("no http rules", StringComparison.Ordinal));
    }

    public static TheoryData<string, string, string, string> Errors => new()
    {
        // VirtualService (after "spec: hosts:"), marker, field path, message fragment
        {
            "  tcp:\n  - match: [{port: 70000}]\n    route: [{destination: {host: tcp-echo}}]",
            "70000", "spec.tcp[0].match[0].port", "port 70000 is out of range 1-65535"
        },
        {
            "  tcp:\n  - route:\n    - {destination: {host: tcp-echo, subset: v1}, weight: 20}\n    - {destination: {host: tcp-echo, subset: v2}, weight: 70}",
            "- {destination: {host: tcp-echo, subset: v1}", "spec.tcp[0].route", "route weights sum to 90; they must sum to 100"
        },
        {
            "  tcp:\n  - match: [{port: 9000}]",
            "match: [{port: 9000}]", "spec.tcp[0]", "a tcp or tls rule needs route"
        },
        {
            "  tcp:\n  - route: [{destination: {host: tcp-echo, subset: v9}}]",
            "v9", "spec.tcp[0].route[0].destination.subset", "subset 'v9' of host 'tcp-echo' is not defined"
        },
        {
            "  tcp:\n  - route: [{destination: {host: orders-db.example.com, port: {number: 5433}}}]",
            "5433", "spec.tcp[0].route[0].destination.port.number", "ServiceEntry 'orders-db' of 'orders-db.example.com' has no port 5433 (its ports: 5432/TCP, 8080/HTTP)"
        },
        {
            "  tcp:\n  - route: [{destination: {host: orders-db.example.com, port: {number: 8080}}}]",
            "8080}", "spec.tcp[0].route[0].destination.port.number", "port 8080 of 'orders-db.example.com' is HTTP; a tcp rule needs a TCP, MONGO, MYSQL, REDIS port"
        },
        {
            "  tcp:\n  - match: [{port: 9000, destinationSubnets: [10.0.0.0/8]}]\n    route: [{destination: {host: tcp-echo}}]",
            "destinationSubnets", "spec.tcp[0].match[0].destinationSubnets", "does not implement"
        },
        {
            "  tcp:\n  - match: [{port: 9000, sourceNamespace: Not.A.Label}]\n    route: [{destination: {host: tcp-echo}}]",
            "Not.A.Label", "spec.tcp[0].match[0].sourceNamespace", "'Not.A.Label' is not a namespace"
        },
        {
            "  tls:\n  - route: [{destination: {host: api.example.com}}]",
            "route: [{destination: {host: api.example.com}}]", "spec.tls[0]", "a tls rule needs match with sniHosts"
        },
        {
            "  tls:\n  - match: [{sniHosts: [evil.example.org]}]\n    route: [{destination: {host: api.example.com}}]",
            "evil.example.org", "spec.tls[0].match[0].sniHosts[0]", "sni host 'evil.example.org' is not one of this VirtualService's hosts (tcp-echo)"
        },
        {
            "  tls:\n  - match: [{sniHosts: [tcp-echo]}]\n    route: [{destination: {host: tcp-echo}}]",
            "tcp-echo}}]", "spec.tls[0].route[0].destination.host", "TLS passthrough goes to a ServiceEntry host with a TLS or HTTPS port; 'tcp-echo' is not one"
        },
        {
            "  tls:\n  - match: [{sniHosts: [tcp-echo]}]\n    route: [{destination: {host: orders-db.example.com, port: {number: 5432}}}]",
            "5432}", "spec.tls[0].route[0].destination.port.number", "port 5432 of 'orders-db.example.com' is TCP; a tls rule needs a TLS, HTTPS port"
        },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_EachTcpOrTlsMistake_NamesPositionPathAndValue(string rules, string marker, string path, string message)
    {
        var yaml = Tcp(rules);
        var error = ProblemAt(yaml, path, marker);

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TCP")]
    [InlineData("MONGO")]
    [InlineData("MYSQL")]
    [InlineData("redis")]
    public void Load_ServiceEntryOpaqueTcpProtocols_AreAccepted(string protocol)
    {
        var result = ConfigLoader.Load([(File, $"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: db}}\nspec:\n  hosts: [db.example.com]\n  ports: [{{number: 27017, name: db, protocol: {protocol}}}]\n  resolution: DNS\n")]);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
    }

    [Fact]
    public void Validate_SeveralTcpMistakes_AreAllReportedAtOnce()
    {
        var result = Load(Tcp("""
              tcp:
              - match: [{port: 0}]
                route: [{destination: {host: tcp-echo, subset: v7}}]
              tls:
              - match: [{sniHosts: []}]
                route: [{destination: {host: tcp-echo}}]
            """));

        Assert.Equal(
            ["spec.tcp[0].match[0].port", "spec.tcp[0].route[0].destination.subset", "spec.tls[0].match[0]", "spec.tls[0].route[0].destination.host"],
            result.Problems.Where(p => p.Severity == ConfigSeverity.Error).Select(p => p.Path).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Validate_TcpRulesOnAGatewayOnlyVirtualService_AreRejected()
    {
        var yaml = """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: gw}
            spec:
              servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: routes}
            spec:
              hosts: [tcp-echo]
              gateways: [gw]
              tcp:
              - route: [{destination: {host: tcp-echo}}]
            """;

        var error = ProblemAt(yaml, "spec.tcp", "- route: [{destination: {host: tcp-echo}}]");

        Assert.Contains("served by sidecars only", error.Message, StringComparison.Ordinal);
    }

    private static ConfigError ProblemAt(string yaml, string path, string marker)
    {
        var text = Entries + yaml;
        var problems = ConfigLoader.Load([(File, text)]).Problems.Where(p => p.Path == path && p.Severity == ConfigSeverity.Error).ToArray();
        Assert.True(problems.Length == 1, $"expected one error at {path}; got:\n{string.Join("\n", ConfigLoader.Load([(File, text)]).Problems)}");
        var lines = text.Split('\n');
        var line = Array.FindLastIndex(lines, l => l.Contains(marker, StringComparison.Ordinal));
        Assert.True(line >= 0, $"marker '{marker}' not in the YAML");
        Assert.Equal((line + 1, lines[line].IndexOf(marker, StringComparison.Ordinal) + 1), (problems[0].Line, problems[0].Column));
        return problems[0];
    }
}
