using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Resilience;
using Mesh.Sidecar.Telemetry;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Tests.Outbound;

/// <summary>
/// The routing step in process: a MeshState applied from real YAML, a DefaultHttpContext as YARP hands it
/// over (the host's route matched, its default cluster assigned), and a next that records where the call went.
/// </summary>
public sealed class OutboundRoutingStepTests
{
    private const string Yaml = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - match: [{headers: {x-canary: {exact: "true"}}}]
            route: [{destination: {host: reviews, subset: v2}}]
          - match: [{uri: {prefix: /gone}}]
            route: [{destination: {host: reviews, subset: v3}}]
          - match: [{uri: {prefix: /api}}]
            route: [{destination: {host: reviews, subset: v1}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
          - {name: v3, labels: {version: v3}}
        """;

    [Fact]
    public async Task AMatchedRule_MovesTheCallToItsSubsetsCluster_AndRecordsItOnTheCall()
    {
        var (step, context, seen, state) = Setup(request => request.Headers["x-canary"] = "true");

        await step.InvokeAsync(context);

        var (cluster, available, call) = Assert.Single(seen);
        Assert.Equal("reviews.default|v2", cluster);
        Assert.Equal(["reviews-v2"], available);
        Assert.Equal(("reviews.default", "v2"), (call.Destination, call.Subset));
        // The later steps read the cluster, with its resilience state, from the call: the very one the state holds.
        Assert.Same(state.Current!.Clusters["reviews.default|v2"], call.Cluster);
    }

    [Theory]
    [InlineData("/gone/1", 503, "no-healthy-endpoint")] // the rule's subset has no endpoint
    [InlineData("/other", 404, "no-route-match")]
    public async Task ACallTheStepCannotRoute_IsAnsweredThere_WithoutCallingTheProxy(string path, int status, string reason)
    {
        var (step, context, seen, _) = Setup(request => request.Path = path);

        await step.InvokeAsync(context);

        Assert.Empty(seen);
        Assert.Equal(status, context.Response.StatusCode);
        Assert.Equal(reason, context.Response.Headers["x-mesh-error"]);
    }

    private static (OutboundRoutingStep Step, DefaultHttpContext Context, List<(string Cluster, string[] Available, OutboundCall Call)> Seen, MeshState State) Setup(Action<HttpRequest> shape)
    {
        var loaded = ConfigLoader.Load([("reviews.yaml", Yaml)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var snapshot = new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = [Instance("reviews-v1", "v1"), Instance("reviews-v2", "v2")] };
        var routes = RouteTable.Build(snapshot, "default");
        var clusters = routes.Clusters.ToDictionary(c => c.Id, c =>
        {
            var proxy = new ClusterState(c.Id);
            var destinations = c.HealthyEndpoints.Select(e => new DestinationState(e.InstanceId)).ToArray();
            proxy.DestinationsState = new ClusterDestinationsState(destinations, destinations);
            return new RoutedCluster(c, proxy, new ClusterResilience(c, TimeProvider.System, 0.2, 10));
        });
        var state = new MeshState();
        state.Set(new MeshState.Applied(snapshot, routes, "test", DateTimeOffset.UtcNow,
            WorkloadPolicy.For(ConfigSet.Empty, "default", "productpage", new Dictionary<string, string>()), clusters));

        var context = new DefaultHttpContext();
        context.Request.Host = new HostString("reviews");
        context.Request.Path = "/";
        shape(context.Request);
        // What YARP hands the pipeline: the host's route, on the host's own cluster.
        var hostCluster = clusters["reviews.default"].Proxy;
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature
        {
            Route = new RouteModel(new RouteConfig { RouteId = "reviews", ClusterId = hostCluster.ClusterId }, hostCluster, HttpTransformer.Default),
            AllDestinations = hostCluster.DestinationsState.AllDestinations,
            AvailableDestinations = hostCluster.DestinationsState.AvailableDestinations,
        });
        OutboundCall.Begin(context);
        var seen = new List<(string, string[], OutboundCall)>();
        var step = new OutboundRoutingStep(c =>
        {
            var proxy = c.GetReverseProxyFeature();
            seen.Add((ClusterOf(clusters, proxy), proxy.AvailableDestinations.Select(d => d.DestinationId).ToArray(), c.Features.Get<OutboundCall>()!));
            return Task.CompletedTask;
        }, state, mirrors: null!); // no rule here mirrors
        return (step, context, seen, state);
    }

    private static string ClusterOf(Dictionary<string, RoutedCluster> clusters, IReverseProxyFeature proxy) =>
        clusters.Values.Single(c => ReferenceEquals(c.Proxy.DestinationsState.AllDestinations, proxy.AllDestinations)).Definition.Id;

    private static ServiceInstance Instance(string id, string version) => new()
    {
        InstanceId = id, Service = "reviews", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy,
        Labels = new Dictionary<string, string> { ["version"] = version },
    };
}
