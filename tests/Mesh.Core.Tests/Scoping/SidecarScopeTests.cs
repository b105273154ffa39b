using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Scoping;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Scoping;

/// <summary>What a scoped sidecar's snapshot holds: the config and instances of the hosts its egress selects, and what those route to.</summary>
public sealed class SidecarScopeTests
{
    private const string Mesh = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews, namespace: default}
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination: {host: reviews-canary.canary.svc.cluster.local}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: ratings, namespace: prod}
        spec:
          hosts: [ratings]
          http:
          - route:
            - destination: {host: ratings}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews, namespace: default}
        spec:
          host: reviews
          subsets: [{name: v1, labels: {version: v1}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: ratings, namespace: prod}
        spec:
          host: ratings
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: payments, namespace: default}
        spec:
          hosts: [payments.example.com]
          ports: [{number: 80, name: http, protocol: HTTP}]
          resolution: DNS
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: maps, namespace: prod}
        spec:
          hosts: [maps.example.com]
          ports: [{number: 80, name: http, protocol: HTTP}]
          resolution: DNS
        """;

    private static readonly ServiceInstance[] Instances =
    [
        Instance("reviews-1", "reviews", "default"),
        Instance("details-1", "details", "default"),
        Instance("canary-1", "reviews-canary", "canary"),
        Instance("ratings-1", "ratings", "prod"),
        Instance("other-1", "other", "prod"),
    ];

    private static ServiceInstance Instance(string id, string service, string ns) =>
        new() { InstanceId = id, Service = service, Namespace = ns, Address = "127.0.0.1", Port = 15006, Health = HealthStatus.Healthy };

    private static (SidecarScope Scope, MeshSnapshot Snapshot) Scoped(string hosts, string ns = "default", string mode = "")
    {
        var sidecar = $$"""
            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: scope, namespace: {{ns}}}
            spec:
              egress: [{hosts: {{hosts}}}]
            {{mode}}
            """;
        var result = ConfigLoader.Load([("mesh.yaml", Mesh + "\n" + sidecar)]);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var config = result.Config!;
        var scope = SidecarScope.Build(config, config.Sidecars[0], ns);
        return (scope, scope.Apply(new MeshSnapshot { Version = 7, ConfigVersion = 3, Config = config, Instances = Instances }));
    }

    private static string[] Names<T>(IEnumerable<Resource<T>> resources) where T : class =>
        resources.Select(r => $"{r.Metadata.Namespace}/{r.Metadata.Name}").ToArray();

    [Fact]
    public void Apply_OwnNamespace_KeepsItsHostsAndWhatItsVirtualServicesRouteTo()
    {
        var (_, snapshot) = Scoped("[./*]");

        Assert.Equal(["default/reviews"], Names(snapshot.Config.VirtualServices));
        Assert.Equal(["default/reviews"], Names(snapshot.Config.DestinationRules));
        Assert.Equal(["default/payments"], Names(snapshot.Config.ServiceEntries));
        // reviews-canary is in another namespace, but reviews' VirtualService routes there (Istio infers it too).
        Assert.Equal(["reviews-1", "details-1", "canary-1"], snapshot.Instances.Select(i => i.InstanceId).ToArray());
        Assert.Empty(snapshot.Config.Sidecars);
        Assert.Equal((7, 3), (snapshot.Version, snapshot.ConfigVersion));
        Assert.Equal(("default/scope", "default", OutboundTrafficMode.RegistryOnly), (snapshot.Scope!.Sidecar, snapshot.Scope.Namespace, snapshot.Scope.Mode));
        Assert.Equal(["default/*"], snapshot.Scope.Hosts);
    }

    [Fact]
    public void Apply_OneHostByFullName_KeepsOnlyIt()
    {
        var (scope, snapshot) = Scoped("[\"*/ratings.prod.svc.cluster.local\"]");

        Assert.Equal(["prod/ratings"], Names(snapshot.Config.VirtualServices));
        Assert.Equal(["prod/ratings"], Names(snapshot.Config.DestinationRules));
        Assert.Empty(snapshot.Config.ServiceEntries);
        Assert.Equal(["ratings-1"], snapshot.Instances.Select(i => i.InstanceId).ToArray());
        Assert.True(scope.Includes(Instance("ratings-2", "ratings", "prod")));
        Assert.False(scope.Includes(Instance("reviews-2", "reviews", "default")));
    }

    [Fact]
    public void Apply_ExternalHostByName_KeepsItsServiceEntry()
    {
        var (_, snapshot) = Scoped("[prod/maps.example.com]");

        Assert.Equal(["prod/maps"], Names(snapshot.Config.ServiceEntries));
        Assert.Empty(snapshot.Instances);
        Assert.Empty(snapshot.Config.VirtualServices);
    }

    [Fact]
    public void Apply_NoNamespace_KeepsNothing()
    {
        var (_, snapshot) = Scoped("[\"~/*\"]");

        Assert.Empty(snapshot.Instances);
        Assert.Empty(snapshot.Config.VirtualServices);
        Assert.Empty(snapshot.Config.DestinationRules);
        Assert.Empty(snapshot.Config.ServiceEntries);
    }

    [Fact]
    public void Apply_WithoutEgress_KeepsEverything_AndCarriesTheMode()
    {
        var result = ConfigLoader.Load([("mesh.yaml", Mesh + """

            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: default, namespace: istio-system}
            spec:
              outboundTrafficPolicy: {mode: ALLOW_ANY}
            """)]);
        var config = result.Config!;
        // The root namespace's default applied to a workload of prod: '.' would mean prod.
        var scope = SidecarScope.Build(config, config.Sidecars[0], "prod");

        var snapshot = scope.Apply(new MeshSnapshot { Config = config, Instances = Instances });

        Assert.Equal(Instances.Length, snapshot.Instances.Count);
        Assert.Equal(2, snapshot.Config.VirtualServices.Count);
        Assert.Equal(OutboundTrafficMode.AllowAny, snapshot.Scope!.Mode);
        Assert.Equal("prod", snapshot.Scope.Namespace);
    }

    [Theory]
    [InlineData("reviews.default", true)]
    [InlineData("details.default", true)]
    [InlineData("ratings.prod", false)]
    // An external host: the sidecar cannot know its ServiceEntry's namespace, so a dnsName of * selects it.
    [InlineData("payments.example.com", true)]
    [InlineData("reviews.canary", false)]
    [InlineData("api.example.com", true)]
    public void Allows_HostsOfTheEgress(string canonical, bool allowed)
    {
        var scope = new SnapshotScope { Sidecar = "default/s", Namespace = "default", Hosts = ["./*", "*/api.example.com", "~/*"] };

        Assert.Equal(allowed, SidecarScope.Allows(scope, canonical));
    }

    [Fact]
    public void Allows_NoEgressHosts_EveryHost()
    {
        Assert.True(SidecarScope.Allows(new SnapshotScope { Sidecar = "default/s", Namespace = "default" }, "anything.prod"));
    }

    [Fact]
    public void Apply_TcpAndTlsRuleDestinations_AreInScopeLikeHttpOnes()
    {
        var result = ConfigLoader.Load([("mesh.yaml", """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: db, namespace: default}
            spec:
              hosts: [db]
              tcp:
              - match: [{port: 5432}]
                route: [{destination: {host: db-primary.data.svc.cluster.local, port: {number: 5432}}}]
            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: scope, namespace: default}
            spec:
              egress: [{hosts: [./db]}]
            """)]);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var config = result.Config!;
        var scope = SidecarScope.Build(config, config.Sidecars[0], "default");
        var snapshot = scope.Apply(new MeshSnapshot
        {
            Version = 1, ConfigVersion = 1, Config = config,
            Instances = [Instance("db-primary-1", "db-primary", "data"), Instance("other-1", "other", "data")],
        });

        Assert.Equal(["db-primary-1"], snapshot.Instances.Select(i => i.InstanceId).ToArray());
    }
}
