using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Routing;

public sealed class RouteTableTests
{
    private static ServiceInstance Instance(string id, string service, string version = "v1", HealthStatus health = HealthStatus.Healthy, string ns = "default") => new()
    {
        InstanceId = id,
        Service = service,
        Namespace = ns,
        Address = "127.0.0.1",
        Port = 15006,
        Health = health,
        Labels = new Dictionary<string, string> { ["version"] = version },
    };

    private static RouteTable Build(string yaml, params ServiceInstance[] instances)
    {
        var loaded = ConfigLoader.Load([("test.yaml", yaml)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        return RouteTable.Build(new MeshSnapshot { Version = 7, Config = loaded.Config!, Instances = instances }, "default");
    }

    [Fact]
    public void Build_NoVirtualService_EachServiceRoutesToAllItsEndpoints()
    {
        var table = Build("", Instance("r1", "reviews"), Instance("r2", "reviews"), Instance("p1", "ratings"));

        Assert.Equal(["ratings.default", "reviews.default"], table.KnownHosts);
        Assert.True(table.TryGetHost("reviews", out var routes));
        var rule = routes.Match(new TestRequest("/any"));
        Assert.Equal("reviews.default", rule!.Pick(new Random(1)).ClusterId);
        var cluster = table.Clusters.Single(c => c.Id == "reviews.default");
        Assert.Equal(["r1", "r2"], cluster.HealthyEndpoints.Select(e => e.InstanceId));
    }

    [Fact]
    public void Build_AfterAnEndpointOnlyDelta_ReusesTheCompiledRules_AndRebuildsTheClusters()
    {
        var loaded = ConfigLoader.Load([("test.yaml", """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
              - match: [{uri: {regex: "/api/v[0-9]+/.*"}}]
                route: [{destination: {host: reviews, subset: v2}}]
              - route: [{destination: {host: reviews, subset: v1}}]
                mirror: {host: ratings}
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews}
            spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
            """)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var first = new MeshSnapshot { Version = 7, ConfigVersion = 3, Config = loaded.Config!, Instances = [Instance("r1", "reviews")] };
        var table = RouteTable.Build(first, "default");
        // A registration arrives as a delta: the config object is carried over.
        var second = new SnapshotDelta { Version = 8, ConfigVersion = 3, BaseVersion = 7, Upserts = [Instance("r2", "reviews", "v2"), Instance("p1", "ratings")] }.ApplyTo(first);

        var next = RouteTable.Build(second, "default", table);

        Assert.True(next.SharesRulesWith(table), "the rules (and their regexes) were compiled again for an endpoint change");
        Assert.True(next.TryGetHost("reviews", out var routes));
        Assert.Equal("reviews.default|v2", routes.Match(new TestRequest("/api/v1/x"))!.Pick(new Random(1)).ClusterId);
        Assert.Equal(["r2"], next.Clusters.Single(c => c.Id == "reviews.default|v2").HealthyEndpoints.Select(e => e.InstanceId));
        Assert.Equal(["p1"], next.Clusters.Single(c => c.Id == "ratings.default").HealthyEndpoints.Select(e => e.InstanceId));
        Assert.Empty(table.Clusters.Single(c => c.Id == "reviews.default|v2").Endpoints); // the old table is untouched

        // A new config object, or another caller namespace, compiles afresh.
        var reloaded = ConfigLoader.Load([("test.yaml", "")]).Config!;
        Assert.False(RouteTable.Build(second with { Config = reloaded }, "default", next).SharesRulesWith(next));
        Assert.False(RouteTable.Build(second, "prod", next).SharesRulesWith(next));
    }

    [Theory]
    [InlineData("reviews")]
    [InlineData("REVIEWS")]
    [InlineData("reviews.default")]
    [InlineData("reviews.default.svc")]
    [InlineData("reviews.default.svc.cluster.local")]
    public void TryGetHost_EveryAliasOfSameNamespaceService_Resolves(string name)
    {
        var table = Build("", Instance("r1", "reviews"));

        Assert.True(table.TryGetHost(name, out var routes));
        Assert.Equal("reviews.default", routes.Host);
    }

    [Fact]
    public void TryGetHost_ShortNameOfOtherNamespace_DoesNotResolveButQualifiedDoes()
    {
        var table = Build("", Instance("r1", "reviews", ns: "prod"));

        Assert.False(table.TryGetHost("reviews", out _));
        Assert.True(table.TryGetHost("reviews.prod", out _));
    }

    [Fact]
    public void Build_UnhealthyEndpoints_AreNotInTheRoutingSet()
    {
        var table = Build("", Instance("r1", "reviews"), Instance("r2", "reviews", health: HealthStatus.Unhealthy), Instance("r3", "reviews", health: HealthStatus.Unknown));

        Assert.Equal(["r1"], table.Clusters.Single().HealthyEndpoints.Select(e => e.InstanceId));
    }

    [Fact]
    public void Build_VirtualServiceSendsHostElsewhere_UsesDestinationCluster()
    {
        const string yaml = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: books}
            spec:
              hosts: [bookstore]
              http:
              - route:
                - destination: {host: reviews}
            """;
        var table = Build(yaml, Instance("r1", "reviews"));

        Assert.True(table.TryGetHost("bookstore", out var routes));
        Assert.Equal("reviews.default", routes.Match(new TestRequest("/"))!.Pick(new Random(1)).Host);
        Assert.Contains("bookstore.default", table.KnownHosts);
    }

    [Fact]
    public void Match_RulesInOrder_FirstMatchingRuleWins()
    {
        const string yaml = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
              - match:
                - headers:
                    end-user: {exact: jason}
                route:
                - destination: {host: reviews, subset: v2}
              - route:
                - destination: {host: reviews, subset: v1}
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews}
            spec:
              host: reviews
              subsets:
              - {name: v1, labels: {version: v1}}
              - {name: v2, labels: {version: v2}}
            """;
        var table = Build(yaml, Instance("r1", "reviews", "v1"), Instance("r2", "reviews", "v2"));
        Assert.True(table.TryGetHost("reviews", out var routes));

        var jason = routes.Match(new TestRequest("/", Headers: new() { ["end-user"] = "jason" }))!.Pick(new Random(1));
        var other = routes.Match(new TestRequest("/"))!.Pick(new Random(1));

        Assert.Equal("reviews.default|v2", jason.ClusterId);
        Assert.Equal("reviews.default|v1", other.ClusterId);
        Assert.Equal(["r2"], table.Clusters.Single(c => c.Id == "reviews.default|v2").Endpoints.Select(e => e.InstanceId));
    }

    [Fact]
    public void Pick_WeightedRoute_SplitsWithinSampleTolerance()
    {
        const string yaml = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
              - route:
                - destination: {host: reviews, subset: v1}
                  weight: 80
                - destination: {host: reviews, subset: v2}
                  weight: 20
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews}
            spec:
              host: reviews
              subsets:
              - {name: v1, labels: {version: v1}}
              - {name: v2, labels: {version: v2}}
            """;
        var table = Build(yaml, Instance("r1", "reviews", "v1"), Instance("r2", "reviews", "v2"));
        table.TryGetHost("reviews", out var routes);
        var rule = routes.Match(new TestRequest("/"))!;
        var random = new Random(42);
        const int n = 10_000;

        var v2 = Enumerable.Range(0, n).Count(_ => rule.Pick(random).Subset == "v2");

        // Binomial(n, 0.2): standard deviation sqrt(n p (1-p)) = 40; allow 4 sigma.
        Assert.InRange(v2, 2000 - 160, 2000 + 160);
    }
}
