using System.Net;
using Mesh.ControlPlane.Discovery;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Tests.Discovery;

public sealed class DnsAnswersTests
{
    private static readonly ServiceInstance[] Registry =
    [
        Instance("reviews-1", "reviews", "10.0.0.1", 15006, "v1"),
        Instance("reviews-2", "reviews", "10.0.0.2", 15007, "v2"),
        Instance("reviews-3", "reviews", "10.0.0.3", 15008, "v2", HealthStatus.Unhealthy),
        Instance("ratings-1", "ratings", "ratings.internal.example", 9080, "v1"),
        Instance("reviews-prod", "reviews", "10.1.0.1", 15006, "v1", ns: "prod"),
    ];

    [Fact]
    public void ServiceName_AnswersEveryHealthyAddress_AndNeverAnUnhealthyOne()
    {
        var (outcome, answers, _) = DnsAnswers.Resolve("reviews.service.consul.", DnsRecordKind.A, Registry);

        Assert.Equal(DnsOutcome.Found, outcome);
        Assert.Equal(["10.0.0.1", "10.0.0.2"], answers.Select(a => a.Address!.ToString()));
        Assert.All(answers, a => Assert.Equal("reviews.service.consul", a.Name));
    }

    [Fact]
    public void Srv_GivesEachInstancesPort_WithItsAddressInTheAdditionalSection()
    {
        var (_, answers, additional) = DnsAnswers.Resolve("REVIEWS.service.consul", DnsRecordKind.Srv, Registry);

        Assert.Equal([("0a000001.addr.consul", 15006), ("0a000002.addr.consul", 15007)], answers.Select(a => (a.Target!, a.Port)));
        Assert.Equal([("0a000001.addr.consul", "10.0.0.1"), ("0a000002.addr.consul", "10.0.0.2")], additional.Select(a => (a.Name, a.Address!.ToString())));
        // The target resolves, as Consul's does.
        var (outcome, target, _) = DnsAnswers.Resolve("0a000002.addr.consul", DnsRecordKind.A, Registry);
        Assert.Equal(DnsOutcome.Found, outcome);
        Assert.Equal(IPAddress.Parse("10.0.0.2"), Assert.Single(target).Address);
    }

    [Theory]
    [InlineData("v2.reviews.service.consul", "10.0.0.2")] // a label's value is a tag; reviews-3 is v2 too, but unhealthy
    [InlineData("reviews.service.prod.ns.consul", "10.1.0.1")]
    [InlineData("reviews.prod.svc.cluster.local", "10.1.0.1")]
    [InlineData("reviews.default.svc.cluster.local.", "10.0.0.1,10.0.0.2")]
    public void TagsNamespacesAndClusterLocalNames_Select(string name, string expected)
    {
        var (outcome, answers, _) = DnsAnswers.Resolve(name, DnsRecordKind.A, Registry);

        Assert.Equal(DnsOutcome.Found, outcome);
        Assert.Equal(expected.Split(','), answers.Select(a => a.Address!.ToString()));
    }

    [Fact]
    public void AHostNameAddress_IsACname()
    {
        var (_, answers, _) = DnsAnswers.Resolve("ratings.service.consul", DnsRecordKind.A, Registry);

        var cname = Assert.Single(answers);
        Assert.Equal((DnsRecordKind.Cname, "ratings.internal.example"), (cname.Kind, cname.Target));
        Assert.Equal("ratings.internal.example", Assert.Single(DnsAnswers.Resolve("ratings.service.consul", DnsRecordKind.Srv, Registry).Answers).Target);
    }

    [Theory]
    [InlineData("details.service.consul")]
    [InlineData("v9.reviews.service.consul")]
    [InlineData("reviews.service.staging.ns.consul")]
    [InlineData("reviews.staging.svc.cluster.local")]
    [InlineData("reviews.node.consul")]
    [InlineData("consul")]
    public void UnknownNamesInOurZones_AreNxdomain(string name)
    {
        Assert.Equal(DnsOutcome.NoSuchName, DnsAnswers.Resolve(name, DnsRecordKind.A, Registry).Outcome);
    }

    [Theory]
    [InlineData("example.com")]
    [InlineData("reviews")]
    [InlineData("reviews.default.svc")]
    public void NamesOutsideOurZones_AreNotOurs(string name)
    {
        Assert.Equal(DnsOutcome.NotOurs, DnsAnswers.Resolve(name, DnsRecordKind.A, Registry).Outcome);
    }

    [Fact]
    public void AServiceWhoseInstancesAreAllUnhealthy_ExistsWithNoAnswers()
    {
        ServiceInstance[] registry = [Instance("reviews-3", "reviews", "10.0.0.3", 15008, "v2", HealthStatus.Unhealthy)];

        var (outcome, answers, _) = DnsAnswers.Resolve("reviews.service.consul", DnsRecordKind.A, registry);

        Assert.Equal(DnsOutcome.Found, outcome);
        Assert.Empty(answers);
    }

    [Fact]
    public void InstancesSharingAnAddress_AreOneARecord()
    {
        ServiceInstance[] registry = [Instance("a", "reviews", "127.0.0.1", 1, "v1"), Instance("b", "reviews", "127.0.0.1", 2, "v1")];

        Assert.Single(DnsAnswers.Resolve("reviews.service.consul", DnsRecordKind.A, registry).Answers);
        Assert.Equal([1, 2], DnsAnswers.Resolve("reviews.service.consul", DnsRecordKind.Srv, registry).Answers.Select(a => a.Port));
    }

    private static ServiceInstance Instance(string id, string service, string address, int port, string version, HealthStatus health = HealthStatus.Healthy, string ns = "default") => new()
    {
        InstanceId = id, Service = service, Namespace = ns, Address = address, Port = port, Health = health,
        Labels = new Dictionary<string, string> { ["version"] = version },
    };
}
