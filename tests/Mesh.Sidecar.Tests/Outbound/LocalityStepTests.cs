using Mesh.Core.Config.Model;
using Mesh.Core.Routing;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Resilience;
using Mesh.Sidecar.Telemetry;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Tests.Outbound;

/// <summary>The locality step in process: a DefaultHttpContext with the proxy feature and the call's cluster, and a next that records what it was given.</summary>
public sealed class LocalityStepTests
{
    private static readonly SidecarOptions Caller = new()
    {
        Service = "productpage", InstanceId = "productpage-1", AppPort = 1, ControlPlanes = [new Uri("https://127.0.0.1:1")], DataDir = "/nonexistent",
        Region = "eu", Zone = "eu-1",
    };

    [Fact]
    public async Task WithLocalityOn_OnlyTheCallersZoneIsOffered_WhileItHasEndpoints()
    {
        var offered = await RunAsync(new LocalityLbSetting(), ("a", "eu", "eu-1"), ("b", "eu", "eu-2"), ("c", "us", "us-1"));
        Assert.Equal(["a"], offered);

        // None left in the zone: the region; none in the region: anywhere.
        Assert.Equal(["b"], await RunAsync(new LocalityLbSetting(), ("b", "eu", "eu-2"), ("c", "us", "us-1")));
        Assert.Equal(["c", "d"], await RunAsync(new LocalityLbSetting(), ("c", "us", "us-1"), ("d", "ap", "ap-1")));
    }

    [Fact]
    public async Task WithoutALocalitySetting_EveryEndpointIsOffered()
    {
        Assert.Equal(["a", "b", "c"], await RunAsync(null, ("a", "eu", "eu-1"), ("b", "eu", "eu-2"), ("c", "us", "us-1")));
    }

    private static async Task<string[]> RunAsync(LocalityLbSetting? setting, params (string Id, string Region, string Zone)[] endpoints)
    {
        var definition = new ClusterDefinition("reviews.default", "reviews.default", null, [], SimpleLoadBalancer.Random) { Locality = setting };
        var cluster = new RoutedCluster(definition, new ClusterState(definition.Id), new ClusterResilience(definition, TimeProvider.System, 0.2, 10));
        var destinations = endpoints.Select(e => new DestinationState(e.Id, new DestinationModel(new DestinationConfig
        {
            Address = "https://127.0.0.1:1",
            Metadata = new Dictionary<string, string> { [LocalityStep.RegionKey] = e.Region, [LocalityStep.ZoneKey] = e.Zone },
        }))).ToList();
        var context = new DefaultHttpContext();
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { AllDestinations = destinations, AvailableDestinations = destinations });
        OutboundCall.Begin(context).Cluster = cluster;
        string[]? seen = null;
        var step = new LocalityStep(c =>
        {
            seen = c.GetReverseProxyFeature().AvailableDestinations.Select(d => d.DestinationId).ToArray();
            return Task.CompletedTask;
        }, Caller, new Mesh.Sidecar.Peering.RemoteLatency(TimeProvider.System));

        await step.InvokeAsync(context);

        return seen ?? throw new InvalidOperationException("the step did not call next");
    }
}
