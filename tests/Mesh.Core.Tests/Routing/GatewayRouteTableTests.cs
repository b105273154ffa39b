using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Routing;

/// <summary>The route table per context: ordinary sidecars ('mesh') and a gateway use only the VirtualServices bound to them.</summary>
public sealed class GatewayRouteTableTests
{
    private const string Config = """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: edge}
        spec:
          servers:
          - port: {number: 80, name: http, protocol: HTTP}
            hosts: [shop.example.com, "*.api.example.com"]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: edge-only}
        spec:
          hosts: [shop.example.com, other.example.org]
          gateways: [edge]
          http:
          - route: [{destination: {host: storefront}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: mesh-only}
        spec:
          hosts: [reviews]
          http:
          - route: [{destination: {host: ratings}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: both}
        spec:
          hosts: [catalog, v1.api.example.com]
          gateways: [default/edge, mesh]
          http:
          - route: [{destination: {host: catalog}}]
        """;

    private static ServiceInstance Instance(string service) => new()
    {
        InstanceId = service + "-1", Service = service, Namespace = "default", Address = "127.0.0.1", Port = 15006, Health = HealthStatus.Healthy,
    };

    private static RouteTable Build((string, string)? gateway)
    {
        var loaded = ConfigLoader.Load([("test.yaml", Config)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var snapshot = new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = [Instance("storefront"), Instance("reviews"), Instance("ratings"), Instance("catalog")] };
        return RouteTable.Build(snapshot, "default", gateway: gateway);
    }

    [Fact]
    public void Build_ForMesh_UsesMeshBoundVirtualServicesAndEveryService()
    {
        var table = Build(null);

        Assert.Equal(["catalog.default", "ratings.default", "reviews.default", "storefront.default", "v1.api.example.com"], table.KnownHosts);
        Assert.True(table.TryGetHost("reviews", out var reviews));
        Assert.Equal("ratings.default", reviews.Rules[0].Destinations[0].ClusterId);
        Assert.False(table.TryGetHost("shop.example.com", out _));
    }

    [Fact]
    public void Build_ForGateway_OnlyItsVirtualServicesHostsItsServersServe()
    {
        var table = Build(("default", "edge"));

        // No server of the Gateway serves other.example.org or catalog (both in bound VirtualServices); reviews is mesh-only.
        Assert.Equal(["shop.example.com", "v1.api.example.com"], table.KnownHosts);
        Assert.True(table.TryGetHost("shop.example.com", out var shop));
        Assert.Equal("storefront.default", shop.Rules[0].Destinations[0].ClusterId);
        Assert.False(table.TryGetHost("reviews", out _));
        Assert.False(table.TryGetHost("storefront", out _));
    }

    [Fact]
    public void Build_ForAGatewayNoResourceDefines_RoutesNothing()
    {
        Assert.Empty(Build(("default", "missing")).KnownHosts);
    }
}
