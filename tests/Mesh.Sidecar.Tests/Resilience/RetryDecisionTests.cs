using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Resilience;
using Mesh.Core.Routing;
using Mesh.Observability;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Resilience;
using Mesh.Sidecar.Telemetry;
using Mesh.Sidecar.Tests.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Mesh.Sidecar.Tests.Resilience;

/// <summary>
/// The retry decision through the whole attempt path in process: the resilience step, the attempt's real
/// request and response transforms (<see cref="AttemptTransforms"/>) and the real connection handler
/// (<see cref="UpstreamAttemptHandler"/>), with a fake forwarder in place of YARP's and scripted endpoints.
/// </summary>
// Spans and meters are process-wide: run apart from the other tests that listen to them.
[Collection(TracingCollection.Name)]
public sealed class RetryDecisionTests
{
    [Fact]
    public async Task ARetriableAnswer_IsRetriedUpToTheRoutesAttempts_AndOnlyTheLastAnswerReachesTheCaller()
    {
        var (context, call, _) = Call("5xx", attempts: 2, "a", "b", "c", "d");
        var upstream = new FakeForwarder { ["a"] = Answer(503), ["b"] = Answer(503), ["c"] = Answer(503), ["d"] = Answer(200) };

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(["a", "b", "c"], upstream.Attempts);
        Assert.Equal(503, context.Response.StatusCode);
        Assert.Equal([true, true, false], upstream.BodyHeldBack); // the retried answers never reached the caller
        Assert.Equal(3, call.Attempt);
        Assert.Equal("503", call.LastOutcome?.Reason);
    }

    [Fact]
    public async Task AnAnswerTheRouteDoesNotRetry_StandsAfterOneAttempt()
    {
        var (context, call, _) = Call("gateway-error,connect-failure", attempts: 3, "a", "b");
        var upstream = new FakeForwarder { ["a"] = Answer(500), ["b"] = Answer(200) };

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(["a"], upstream.Attempts);
        Assert.Equal(500, context.Response.StatusCode);
        Assert.Equal([false], upstream.BodyHeldBack);
        Assert.Equal(1, call.Attempt);
    }

    [Theory]
    [InlineData("503", new[] { "a" }, 503, 1)] // an answer's retry draws on the budget: refused
    [InlineData("connect-failure", new[] { "a", "b" }, 200, 0)] // an attempt that reached no app does not
    public async Task ASpentBudget_RefusesTheRetryOfAnAnswer_ButNotOfAConnectFailure(string first, string[] tried, int status, int refusedByBudget)
    {
        var (context, call, cluster) = Call("5xx", attempts: 2, budgetRatio: 0, budgetMin: 0, ["a", "b"]);
        var upstream = new FakeForwarder { ["a"] = first == "503" ? Answer(503) : Refuse(), ["b"] = Answer(200) };
        using var exhausted = new CounterOf(SidecarTelemetry.RetriesBudgetExhausted.Name, cluster.Definition.Host);

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(tried, upstream.Attempts);
        Assert.Equal(status, context.Response.StatusCode);
        Assert.Equal(refusedByBudget, exhausted.Total);
        Assert.Equal(tried.Length, call.Attempt);
        Assert.Equal(status.ToString(System.Globalization.CultureInfo.InvariantCulture), call.LastOutcome?.Reason);
    }

    [Fact]
    public async Task AnAttemptPastItsPerTryTimeout_IsRetried_WhenTheRouteRetriesTimeouts()
    {
        var (context, call, _) = Call("5xx", attempts: 1, "a", "b", perTryTimeout: TimeSpan.FromMilliseconds(100));
        var upstream = new FakeForwarder { ["a"] = Hang(), ["b"] = Answer(200) };

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(["a", "b"], upstream.Attempts);
        Assert.Equal(200, context.Response.StatusCode);
        Assert.Equal(2, call.Attempt);
    }

    [Fact]
    public async Task AnAttemptPastItsPerTryTimeout_Answers504_WhenTheRouteDoesNotRetryTimeouts()
    {
        var (context, call, _) = Call("connect-failure", attempts: 2, "a", "b", perTryTimeout: TimeSpan.FromMilliseconds(100));
        var upstream = new FakeForwarder { ["a"] = Hang(), ["b"] = Answer(200) };

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(["a"], upstream.Attempts);
        Assert.Equal(504, context.Response.StatusCode);
        Assert.Equal("upstream-per-try-timeout", context.Response.Headers["x-mesh-error"].ToString());
        Assert.Equal(new AttemptOutcome(504, AttemptFailure.PerTryTimeout), call.LastOutcome);
    }

    [Fact]
    public async Task SpansAndMetrics_SeeEachAttemptsNumber_AndWhyItWasRetried()
    {
        ObservabilityServices.UseMeshPropagation();
        using var tracing = new CapturedSpans(SidecarTelemetry.Name);
        var (context, call, cluster) = Call("5xx,connect-failure", attempts: 3, "a", "b", "c");
        var upstream = new FakeForwarder { ["a"] = Refuse(), ["b"] = Answer(503), ["c"] = Answer(200) };
        using var retries = new CounterOf(SidecarTelemetry.Retries.Name, cluster.Definition.Host);
        using var attempts = new CounterOf(SidecarTelemetry.Attempts.Name, cluster.Definition.Host);

        await Step(upstream).InvokeAsync(context);

        Assert.Equal(200, context.Response.StatusCode);
        var spans = tracing.Flushed().Where(a => a.Kind == ActivityKind.Client).ToArray();
        Assert.Equal([1, 2, 3], spans.Select(s => (int)s.GetTagItem("mesh.attempt")!));
        Assert.Equal([null, "connect-failure", "503"], spans.Select(s => s.GetTagItem("mesh.retry.reason") as string));
        Assert.Equal(["connect-failure", "503", "200"], spans.Select(s => s.GetTagItem("mesh.outcome") as string));
        Assert.Equal(3, call.Attempt); // the outbound span's mesh.attempts
        Assert.Equal(["connect-failure", "503"], retries.Reasons);
        Assert.Equal(3, attempts.Total);
    }

    private static ResilienceStep Step(FakeForwarder upstream) =>
        new(upstream.InvokeAsync, TimeProvider.System, NullLogger<ResilienceStep>.Instance);

    private static (DefaultHttpContext Context, OutboundCall Call, RoutedCluster Cluster) Call(string retryOn, int attempts, params string[] endpoints) =>
        Call(retryOn, attempts, budgetRatio: 0.2, budgetMin: 10, endpoints);

    private static (DefaultHttpContext Context, OutboundCall Call, RoutedCluster Cluster) Call(string retryOn, int attempts, string a, string b, TimeSpan perTryTimeout) =>
        Call(retryOn, attempts, 0.2, 10, [a, b], perTryTimeout);

    private static (DefaultHttpContext Context, OutboundCall Call, RoutedCluster Cluster) Call(string retryOn, int attempts, double budgetRatio, int budgetMin, string[] endpoints, TimeSpan? perTryTimeout = null)
    {
        // Each call its own destination name, so a meter listener counts this test's call only.
        var host = $"ratings-{Guid.NewGuid():N}.default";
        var definition = new ClusterDefinition(host, host, null,
            endpoints.Select(id => new ServiceInstance { InstanceId = id, Service = "ratings", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy }).ToList(),
            SimpleLoadBalancer.Random);
        var cluster = new RoutedCluster(definition, new ClusterState(definition.Id), new ClusterResilience(definition, TimeProvider.System, budgetRatio, budgetMin));
        var context = new DefaultHttpContext();
        var destinations = endpoints.Select(id => new DestinationState(id)).ToList();
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { AllDestinations = destinations, AvailableDestinations = destinations });
        var call = OutboundCall.Begin(context);
        call.Destination = host;
        call.Cluster = cluster;
        call.Rule = new RouteRule("default", [], [new WeightedDestination(host, host, null, 100)]) { RetryPolicy = new RetryPolicy(attempts, perTryTimeout, retryOn) };
        return (context, call, cluster);
    }

    private static Func<CancellationToken, Task<HttpResponseMessage>> Answer(int status) => _ => Task.FromResult(new HttpResponseMessage((HttpStatusCode)status));

    private static Func<CancellationToken, Task<HttpResponseMessage>> Refuse() => _ => Task.FromException<HttpResponseMessage>(
        new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused", new SocketException((int)SocketError.ConnectionRefused)));

    private static Func<CancellationToken, Task<HttpResponseMessage>> Hang() => async token =>
    {
        await Task.Delay(Timeout.Infinite, token);
        throw new UnreachableException();
    };

    /// <summary>
    /// YARP's forwarder, as far as an attempt sees it: the first candidate is sent the request (after the
    /// request transforms) through the connection handler; an answer goes through the response transforms
    /// before the caller's response takes its status; a failure is left on the error feature.
    /// </summary>
    private sealed class FakeForwarder : Dictionary<string, Func<CancellationToken, Task<HttpResponseMessage>>>
    {
        private readonly TransformBuilderContext _transforms = new();

        public FakeForwarder()
        {
            new AttemptTransforms().Apply(_transforms);
        }

        public List<string> Attempts { get; } = [];
        public List<bool> BodyHeldBack { get; } = [];

        public async Task InvokeAsync(HttpContext context)
        {
            var proxy = context.GetReverseProxyFeature();
            var picked = proxy.AvailableDestinations[0];
            proxy.ProxiedDestination = picked;
            Attempts.Add(picked.DestinationId);
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:1/{picked.DestinationId}");
            foreach (var transform in _transforms.RequestTransforms)
            {
                await transform.ApplyAsync(new RequestTransformContext { HttpContext = context, ProxyRequest = request, Path = context.Request.Path, DestinationPrefix = "http://127.0.0.1:1" });
            }
            using var invoker = new HttpMessageInvoker(new UpstreamAttemptHandler(new Endpoint(this[picked.DestinationId])));
            try
            {
                using var response = await invoker.SendAsync(request, context.RequestAborted);
                var answer = new ResponseTransformContext { HttpContext = context, ProxyResponse = response };
                foreach (var transform in _transforms.ResponseTransforms)
                {
                    await transform.ApplyAsync(answer);
                }
                BodyHeldBack.Add(answer.SuppressResponseBody);
                context.Response.StatusCode = (int)response.StatusCode;
            }
            catch (OperationCanceledException e)
            {
                context.Response.StatusCode = 502;
                context.Features.Set<IForwarderErrorFeature>(new Failed(ForwarderError.RequestCanceled, e));
            }
            catch (HttpRequestException e)
            {
                context.Response.StatusCode = 502;
                context.Features.Set<IForwarderErrorFeature>(new Failed(ForwarderError.Request, e));
            }
        }
    }

    private sealed class Endpoint(Func<CancellationToken, Task<HttpResponseMessage>> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => answer(cancellationToken);
    }

    private sealed record Failed(ForwarderError Error, Exception? Exception) : IForwarderErrorFeature;

    /// <summary>A sidecar counter's increments for one destination, with their reason tags.</summary>
    private sealed class CounterOf : IDisposable
    {
        private readonly MeterListener _listener = new();

        public CounterOf(string instrument, string destination)
        {
            _listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == SidecarTelemetry.Name && i.Name == instrument)
                {
                    l.EnableMeasurementEvents(i);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string? seen = null, reason = null;
                foreach (var tag in tags)
                {
                    (seen, reason) = tag.Key switch
                    {
                        "destination" => (tag.Value as string, reason),
                        "reason" => (seen, tag.Value as string),
                        _ => (seen, reason),
                    };
                }
                if (seen == destination)
                {
                    lock (Reasons)
                    {
                        Total += value;
                        Reasons.Add(reason ?? "");
                    }
                }
            });
            _listener.Start();
        }

        public long Total { get; private set; }
        public List<string> Reasons { get; } = [];

        public void Dispose() => _listener.Dispose();
    }
}
