using Mesh.ControlPlane.Peering;
using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Tests.Peering;

public sealed class ExportSelectionTests
{
    private static readonly Mesh.Core.Config.Model.ConfigSet Config = ConfigLoader.Load([("exports.yaml", """
        apiVersion: peering.mesh.dev/v1alpha1
        kind: ExportedServices
        metadata: {name: exports, namespace: shop}
        spec:
          services:
          - name: ratings
            consumers: [{peer: east}, {peer: south}]
          - name: reviews
            namespace: books
            consumers: [{peer: east}]
        """)]).Config!;

    private static ServiceInstance Instance(string id, string service, string ns, RegistrationSource source = RegistrationSource.Sidecar, string? peer = null) =>
        new() { InstanceId = id, Service = service, Namespace = ns, Address = "10.0.0.1", Port = 15006, Source = source, Peer = peer, Health = HealthStatus.Healthy };

    private static readonly ServiceInstance[] Registry =
    [
        Instance("ratings-1", "ratings", "shop"),
        Instance("ratings-other-ns", "ratings", "default"),
        Instance("reviews-1", "reviews", "books"),
        Instance("details-1", "details", "shop"),
        Instance("ratings-consul", "ratings", "shop", RegistrationSource.Consul),
        Instance("ratings-9@north", "ratings", "shop", peer: "north"),
    ];

    [Fact]
    public void For_APeer_GivesItsExportedServicesOwnSidecarInstancesOnly()
    {
        Assert.Equal(["ratings-1", "reviews-1"], ExportSelection.For("east", Config, Registry).Select(i => i.InstanceId));
        Assert.Equal(["ratings-1"], ExportSelection.For("south", Config, Registry).Select(i => i.InstanceId));
        Assert.Empty(ExportSelection.For("north", Config, Registry));
    }

    [Fact]
    public void ServiceCount_CountsTheServicesExportedToThePeer()
    {
        Assert.Equal(2, ExportSelection.ServiceCount("east", Config));
        Assert.Equal(1, ExportSelection.ServiceCount("south", Config));
        Assert.Equal(0, ExportSelection.ServiceCount("west", Config));
    }
}
