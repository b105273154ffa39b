using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Routing.Tcp;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Routing;

public sealed class TcpRouteTableTests
{
    private static ServiceInstance Echo(string id, string version, params int[] tcpPorts) => new()
    {
        InstanceId = id,
        Service = "tcp-echo",
        Address = "127.0.0.1",
        Port = 15006,
        Labels = new Dictionary<string, string> { ["version"] = version },
        TcpPorts = tcpPorts.Select(p => new InstancePort(p, "TCP")).ToArray(),
        Health = HealthStatus.Healthy,
    };

    private static TcpRouteTable Build(string yaml, IReadOnlyDictionary<string, string>? caller = null, params ServiceInstance[] instances)
    {
        var loaded = ConfigLoader.Load([("tcp.yaml", yaml)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        return TcpRouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = instances }, "default", caller ?? new Dictionary<string, string>());
    }

    private const string Shifting = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: tcp-echo}
        spec:
          host: tcp-echo
          trafficPolicy: {connectionPool: {tcp: {connectTimeout: 250ms}}}
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: tcp-echo}
        spec:
          hosts: [tcp-echo]
          tcp:
          - match: [{port: 9000, sourceLabels: {app: canary}}]
            route: [{destination: {host: tcp-echo, subset: v2}}]
          - match: [{port: 9000}]
            route:
            - {destination: {host: tcp-echo, subset: v1}, weight: 25}
            - {destination: {host: tcp-echo, subset: v2}, weight: 75}
        """;

    [Fact]
    public void Route_WeightedRule_PicksByShareAndResolvesSubsetEndpointsServingThePort()
    {
        var table = Build(Shifting, null, Echo("a", "v1", 9000), Echo("b", "v2", 9000), Echo("c", "v2"));

        var rule = table.Route("tcp-echo.default", 9000)!;
        Assert.Equal("default/tcp-echo tcp[1]", rule.Source); // the canary rule does not exist for this caller
        Assert.Equal("v1", rule.Pick(0.24)!.Subset);
        Assert.Equal("v2", rule.Pick(0.25)!.Subset);
        var v2 = table.Resolve(rule.Pick(0.9)!, 9000);
        Assert.Equal(["b"], v2.Endpoints.Select(e => e.InstanceId)); // c serves no TCP port 9000
        Assert.Equal(TimeSpan.FromMilliseconds(250), v2.ConnectTimeout);
        Assert.Equal("default/tcp-echo", v2.Identity);
        Assert.Null(table.Route("tcp-echo.default", 9001)); // tcp rules exist and none matches
    }

    [Fact]
    public void Route_SourceLabelsOfTheCaller_SelectTheCanaryRule()
    {
        var table = Build(Shifting, new Dictionary<string, string> { ["app"] = "canary" }, Echo("b", "v2", 9000));

        Assert.Equal("default/tcp-echo tcp[0]", table.Route("tcp-echo.default", 9000)!.Source);
    }

    [Fact]
    public void RouteTls_BySni_UsesTlsRulesThenServiceEntryHosts()
    {
        var table = Build("""
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: apis}
            spec:
              hosts: ["*.example.com"]
              ports: [{number: 443, name: tls, protocol: TLS}]
              resolution: STATIC
              endpoints: [{address: 10.0.0.1}]
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: pinned}
            spec:
              hosts: [pinned.example.org]
              ports: [{number: 443, name: tls, protocol: TLS}]
              resolution: STATIC
              endpoints: [{address: 10.0.0.9, ports: {tls: 8443}}]
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: api}
            spec:
              hosts: ["*.example.com"]
              tls:
              - match: [{sniHosts: [legacy.example.com]}]
                route: [{destination: {host: pinned.example.org, port: {number: 443}}}]
            """);

        var legacy = table.RouteTls("legacy.example.com", 443)!;
        Assert.Equal(["10.0.0.9:8443"], table.Resolve(legacy.Pick(0.5)!, 443).Endpoints.Select(e => $"{e.Address}:{e.Port}"));
        var other = table.RouteTls("shop.example.com", 443)!;
        Assert.Equal(["10.0.0.1:443"], table.Resolve(other.Pick(0.5)!, 443).Endpoints.Select(e => $"{e.Address}:{e.Port}"));
        Assert.Null(table.RouteTls("example.com", 443));
        Assert.Null(table.RouteTls("shop.example.com", 8443));
    }
}
