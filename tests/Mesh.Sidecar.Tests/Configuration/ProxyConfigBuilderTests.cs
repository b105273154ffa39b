using System.Net;
using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Configuration;

namespace Mesh.Sidecar.Tests.Configuration;

public sealed class ProxyConfigBuilderTests
{
    private static Yarp.ReverseProxy.Configuration.ClusterConfig ClusterFor(string trafficPolicy)
    {
        var loaded = ConfigLoader.Load([("dr.yaml", $"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {"{"}name: reviews{"}"}
            spec:
              host: reviews
              trafficPolicy: {trafficPolicy}
            """)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var instance = new ServiceInstance { InstanceId = "r1", Service = "reviews", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy };
        var table = RouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = [instance] }, "default");
        return new ProxyConfigBuilder().Build(table).Clusters.Single(c => c.ClusterId != ProxyConfigBuilder.LocalAnswerCluster);
    }

    [Fact]
    public void SidecarToSidecar_IsHttp2OverMutualTls_UnlessTheDestinationRuleSaysOtherwise()
    {
        var byDefault = ClusterFor("{loadBalancer: {simple: ROUND_ROBIN}}");
        Assert.Equal(HttpVersion.Version20, byDefault.HttpRequest!.Version);
        Assert.StartsWith("https://", byDefault.Destinations!.Single().Value.Address);
        Assert.Equal(HttpVersion.Version20, ClusterFor("{connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}").HttpRequest!.Version);

        // DO_NOT_UPGRADE keeps pooled HTTP/1.1 connections, still over mutual TLS.
        var http1 = ClusterFor("{connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}}");
        Assert.Equal(HttpVersion.Version11, http1.HttpRequest!.Version);
        Assert.StartsWith("https://", http1.Destinations!.Single().Value.Address);
        Assert.Equal(HttpVersion.Version11, ClusterFor("{connectionPool: {http: {maxRequestsPerConnection: 1}}}").HttpRequest!.Version);

        // Plaintext (DISABLE) is HTTP/1.1.
        var plain = ClusterFor("{tls: {mode: DISABLE}}");
        Assert.Equal(HttpVersion.Version11, plain.HttpRequest!.Version);
        Assert.StartsWith("http://", plain.Destinations!.Single().Value.Address);
    }

    [Fact]
    public void AnUnknownH2UpgradePolicy_IsAnErrorNamingTheField()
    {
        var loaded = ConfigLoader.Load([("dr.yaml", """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews}
            spec:
              host: reviews
              trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: SOMETIMES}}}
            """)]);
        Assert.False(loaded.Succeeded);
        var error = Assert.Single(loaded.Errors);
        Assert.Contains("h2UpgradePolicy", error.ToString());
        Assert.Contains("DO_NOT_UPGRADE", error.ToString());
        Assert.Contains("dr.yaml:6", error.ToString());
    }
}
