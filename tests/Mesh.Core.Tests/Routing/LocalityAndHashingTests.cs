using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Routing;

public sealed class LocalityAndHashingTests
{
    private sealed record Endpoint(string Id, string? Region, string? Zone);

    private static readonly Func<Endpoint, (string?, string?)> LocalityOf = e => (e.Region, e.Zone);

    private static readonly Endpoint[] Spread =
    [
        new("a1", "us-east", "a"), new("a2", "us-east", "a"),
        new("b1", "us-east", "b"),
        new("w1", "us-west", "a"),
        new("e1", "eu", "x"),
    ];

    private static string[] Ids(IEnumerable<Endpoint> endpoints) => endpoints.Select(e => e.Id).Order().ToArray();

    [Fact]
    public void Select_CallerZoneHasEndpoints_OnlyThoseAreUsed()
    {
        var chosen = LocalityPreference.Select(Spread, LocalityOf, "us-east", "a", new LocalityLbSetting(), new Random(1));

        Assert.Equal(["a1", "a2"], Ids(chosen));
    }

    [Fact]
    public void Select_CallerZoneEmpty_FailsOverToSameRegionThenAnywhere()
    {
        var noZoneA = Spread.Where(e => e.Zone != "a" || e.Region != "us-east").ToArray();
        var onlyOtherRegions = Spread.Where(e => e.Region != "us-east").ToArray();

        Assert.Equal(["b1"], Ids(LocalityPreference.Select(noZoneA, LocalityOf, "us-east", "a", new LocalityLbSetting(), new Random(1))));
        Assert.Equal(["e1", "w1"], Ids(LocalityPreference.Select(onlyOtherRegions, LocalityOf, "us-east", "a", new LocalityLbSetting(), new Random(1))));
    }

    [Fact]
    public void Select_FailoverRegion_IsPreferredOverOtherRegions()
    {
        var onlyOtherRegions = Spread.Where(e => e.Region != "us-east").ToArray();
        var setting = new LocalityLbSetting { Failover = [new LocalityFailover { From = "us-east", To = "eu" }] };

        Assert.Equal(["e1"], Ids(LocalityPreference.Select(onlyOtherRegions, LocalityOf, "us-east", "a", setting, new Random(1))));
    }

    [Fact]
    public void Select_Distribute_SendsTheConfiguredShareToEachLocality()
    {
        var setting = new LocalityLbSetting
        {
            Distribute = [new LocalityDistribute { From = "us-east/a/*", To = new Dictionary<string, int> { ["us-east/a/*"] = 70, ["us-west/*"] = 30 } }],
        };
        // Istio's locality strings have a sub-zone part; "us-east/a/*" covers zone a of us-east.
        const int n = 10_000;
        var random = new Random(5);

        var west = Enumerable.Range(0, n).Count(_ => LocalityPreference.Select(Spread, LocalityOf, "us-east", "a", setting, random)[0].Region == "us-west");

        RouteActionTests.AssertBinomial(west, n, 0.3);
    }

    [Theory]
    [InlineData("*", "r", "z", true)]
    [InlineData("r", "r", "z", true)]
    [InlineData("r/*", "r", "z", true)]
    [InlineData("r/z", "r", "z", true)]
    [InlineData("r/z/*", "r", "z", true)]
    [InlineData("r/y", "r", "z", false)]
    [InlineData("q", "r", "z", false)]
    public void Matches_LocalityPatterns(string pattern, string region, string zone, bool expected)
    {
        Assert.Equal(expected, LocalityPreference.Matches(pattern, region, zone));
    }

    [Fact]
    public void RouteTable_OutlierDetectionTurnsLocalityOn_AsIstioDoes()
    {
        static ClusterDefinition ClusterFor(string trafficPolicy)
        {
            var loaded = ConfigLoader.Load([("t.yaml", $"""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {"{"}name: reviews{"}"}
                spec:
                  host: reviews
                  trafficPolicy: {trafficPolicy}
                """)]);
            Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
            var instance = new Mesh.Core.Registry.ServiceInstance { InstanceId = "r1", Service = "reviews", Address = "127.0.0.1", Port = 1 };
            var table = RouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = [instance] }, "default");
            Assert.True(table.TryGetCluster("reviews.default", out var cluster));
            return cluster;
        }

        Assert.Null(ClusterFor("{loadBalancer: {simple: ROUND_ROBIN}}").Locality);
        Assert.NotNull(ClusterFor("{outlierDetection: {consecutive5xxErrors: 5}}").Locality);
        Assert.Null(ClusterFor("{outlierDetection: {consecutive5xxErrors: 5}, loadBalancer: {localityLbSetting: {enabled: false}}}").Locality);
    }

    [Fact]
    public void RendezvousHash_SameKeySameEndpoint_AndOnlyTheLeaversKeysMove()
    {
        var endpoints = Enumerable.Range(0, 5).Select(i => $"10.0.0.{i}:80").ToList();
        var keys = Enumerable.Range(0, 2000).Select(i => $"user-{i}").ToArray();

        var before = keys.ToDictionary(k => k, k => RendezvousHash.Pick(endpoints, k, e => e));
        var again = keys.ToDictionary(k => k, k => RendezvousHash.Pick(endpoints.AsEnumerable().Reverse().ToList(), k, e => e));
        endpoints.Remove("10.0.0.2:80");
        var after = keys.ToDictionary(k => k, k => RendezvousHash.Pick(endpoints, k, e => e));

        Assert.Equal(before, again); // order of the endpoint list does not matter
        Assert.All(keys.Where(k => before[k] != "10.0.0.2:80"), k => Assert.Equal(before[k], after[k]));
        var share = before.Values.Count(v => v == "10.0.0.0:80");
        RouteActionTests.AssertBinomial(share, keys.Length, 0.2); // keys spread evenly
    }

    [Fact]
    public void ServiceEntry_StaticAndDns_BecomeClustersWithTheirOwnEndpoints()
    {
        var loaded = ConfigLoader.Load([("se.yaml", """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: payments}
            spec:
              hosts: [payments.example.com]
              location: MESH_EXTERNAL
              ports: [{number: 80, name: http, protocol: HTTP}]
              resolution: STATIC
              endpoints:
              - {address: 127.0.0.1, ports: {http: 8081}, labels: {version: v1}, locality: us-east/a}
              - {address: 127.0.0.2}
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: httpbin}
            spec:
              hosts: [httpbin.org]
              ports: [{number: 443, name: https, protocol: HTTPS}]
              resolution: DNS
            """)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));

        var table = RouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config! }, "default");

        Assert.True(table.TryGetHost("payments.example.com", out var payments));
        Assert.True(table.TryGetCluster(payments.Rules[0].Destinations[0].ClusterId, out var paymentsCluster));
        Assert.Equal([("127.0.0.1", 8081, "us-east", "a"), ("127.0.0.2", 80, null, null)],
            paymentsCluster.Endpoints.Select(e => (e.Address, e.Port, e.Region, e.Zone)));
        Assert.Equal("http", paymentsCluster.ExternalScheme);
        Assert.True(table.TryGetCluster("httpbin.org", out var httpbin));
        Assert.Equal([("httpbin.org", 443)], httpbin.Endpoints.Select(e => (e.Address, e.Port)));
        Assert.Equal("https", httpbin.ExternalScheme);
    }
}
