using System.Net.Http;
using System.Net.Sockets;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Resilience;
using Mesh.Sidecar.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Tests.Resilience;

/// <summary>
/// The resilience step in process, as YARP's own middleware tests do: a DefaultHttpContext carrying the
/// proxy feature and the call's RoutedCluster, and a fake next standing in for load balancing and the
/// forwarder (it picks the first candidate and fails or answers as that endpoint is told to).
/// </summary>
public sealed class ResilienceStepTests
{
    [Fact]
    public async Task ARefusedConnect_IsRetriedOnAnotherEndpoint_AndEjectsTheDeadOneAtOnce()
    {
        var (context, cluster) = Call("reviews-a", "reviews-b");
        var upstream = new FakeUpstream { Dead = { "reviews-a" } };

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(200, context.Response.StatusCode);
        Assert.Equal(["reviews-a", "reviews-b"], upstream.Attempts);
        Assert.True(cluster.Resilience.Local.IsEjected("reviews-a"), "the refusing endpoint is out of this caller's set");
        Assert.False(cluster.Resilience.Local.IsEjected("reviews-b"));

        // The next call does not try it again.
        var (next, _) = Call(cluster);
        upstream.Attempts.Clear();
        await Step(upstream).InvokeAsync(next);
        Assert.Equal(["reviews-b"], upstream.Attempts);
    }

    [Fact]
    public async Task EveryEndpointRefusing_TriesEachOnce_ThenAnswers502()
    {
        var (context, _) = Call("reviews-a", "reviews-b", "reviews-c");
        var upstream = new FakeUpstream { Dead = { "reviews-a", "reviews-b", "reviews-c" } };

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(502, context.Response.StatusCode);
        // Istio's default policy: 2 retries, each to an endpoint not tried yet.
        Assert.Equal(["reviews-a", "reviews-b", "reviews-c"], upstream.Attempts);
    }

    [Fact]
    public async Task ACallerThatLeft_IsNotRetried_NorCountedAgainstTheEndpoint()
    {
        var (context, cluster) = Call("reviews-a", "reviews-b");
        var upstream = new FakeUpstream { CallerLeaves = true };

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(["reviews-a"], upstream.Attempts);
        Assert.False(cluster.Resilience.Local.Any, "nothing recorded against the endpoint");
    }

    [Fact]
    public async Task WithoutARoutedCluster_TheCallPassesThroughOnce()
    {
        var context = new DefaultHttpContext();
        var destinations = new List<DestinationState> { new("reviews-a") };
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { AllDestinations = destinations, AvailableDestinations = destinations });
        var upstream = new FakeUpstream();

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(["reviews-a"], upstream.Attempts);
    }

    private static ResilienceStep Step(FakeUpstream upstream) =>
        new(upstream.InvokeAsync, TimeProvider.System, NullLogger<ResilienceStep>.Instance);

    private static (DefaultHttpContext Context, RoutedCluster Cluster) Call(params string[] endpoints)
    {
        var definition = new ClusterDefinition("reviews.default", "reviews.default", null,
            endpoints.Select(id => new ServiceInstance { InstanceId = id, Service = "reviews", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy }).ToList(),
            SimpleLoadBalancer.Random);
        var cluster = new RoutedCluster(definition, new ClusterState(definition.Id), new ClusterResilience(definition, TimeProvider.System, budgetRatio: 0.2, budgetMinPerSecond: 10));
        return Call(cluster);
    }

    private static (DefaultHttpContext Context, RoutedCluster Cluster) Call(RoutedCluster cluster)
    {
        var context = new DefaultHttpContext();
        var destinations = cluster.Definition.Endpoints.Select(e => new DestinationState(e.InstanceId)).ToList();
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { AllDestinations = destinations, AvailableDestinations = destinations });
        OutboundCall.Begin(context).Cluster = cluster;
        return (context, cluster);
    }

    /// <summary>Load balancing and the forwarder: the first candidate is called; a dead one refuses the connection.</summary>
    private sealed class FakeUpstream
    {
        public HashSet<string> Dead { get; } = [];
        public bool CallerLeaves { get; init; }
        public List<string> Attempts { get; } = [];

        public Task InvokeAsync(HttpContext context)
        {
            var proxy = context.GetReverseProxyFeature();
            var picked = proxy.AvailableDestinations[0];
            proxy.ProxiedDestination = picked;
            Attempts.Add(picked.DestinationId);
            if (CallerLeaves)
            {
                context.Response.StatusCode = 400;
                context.Features.Set<IForwarderErrorFeature>(new Failed(ForwarderError.RequestCanceled, new OperationCanceledException()));
            }
            else if (Dead.Contains(picked.DestinationId))
            {
                context.Response.StatusCode = 502;
                context.Features.Set<IForwarderErrorFeature>(new Failed(ForwarderError.Request,
                    new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused", new SocketException((int)SocketError.ConnectionRefused))));
            }
            else
            {
                context.Response.StatusCode = 200;
            }
            return Task.CompletedTask;
        }
    }

    private sealed record Failed(ForwarderError Error, Exception? Exception) : IForwarderErrorFeature;
}
