using System.Diagnostics;
using System.Net;
using Mesh.Core.Resilience;
using Mesh.Observability;
using Mesh.Sidecar.Resilience;
using Mesh.Sidecar.Telemetry;
using Microsoft.AspNetCore.Http;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Mesh.Sidecar.Tests.Telemetry;

/// <summary>Client spans per upstream attempt, captured with OpenTelemetry's in-memory exporter.</summary>
// Tracer providers listen process-wide: tests that make one must not overlap, or each sees the other's sampling.
[Collection(TracingCollection.Name)]
public sealed class UpstreamAttemptHandlerTests
{
    [Fact]
    public async Task RetriedCall_ShowsEachAttemptWithWhyItWasRetried_AndPropagatesTheAttemptsContext()
    {
        ObservabilityServices.UseMeshPropagation();
        using var tracing = new CapturedSpans(SidecarTelemetry.Name, "test");
        using var testSource = new ActivitySource("test");
        var upstream = new ScriptedUpstream(HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK);
        using var invoker = new HttpMessageInvoker(new UpstreamAttemptHandler(upstream));

        using (var server = testSource.StartActivity("outbound reviews", ActivityKind.Server))
        {
            var call = OutboundCall.Begin(new DefaultHttpContext());
            (call.Destination, call.Subset, call.Route) = ("reviews.default", "v2", "jason");
            for (var i = 0; i < 2; i++)
            {
                // What the resilience step does around each attempt: count it, and report how it ended.
                call.BeginAttempt();
                using var request = new HttpRequestMessage(HttpMethod.Get, "http://10.0.0.7:15006/reviews/1");
                request.Options.Set(OutboundCall.RequestKey, call);
                request.Headers.TryAddWithoutValidation("traceparent", "00-11111111111111111111111111111111-2222222222222222-01"); // the app's, replaced
                using var response = await invoker.SendAsync(request, CancellationToken.None);
                call.Report(new AttemptOutcome((int)response.StatusCode, AttemptFailure.None));
            }
        }
        var attempts = tracing.Flushed().Where(a => a.Kind == ActivityKind.Client).ToArray();
        Assert.Equal(2, attempts.Length);
        var parent = Assert.Single(tracing.Exported, a => a.Kind == ActivityKind.Server);
        Assert.All(attempts, a =>
        {
            Assert.Equal(parent.SpanId, a.ParentSpanId);
            Assert.Equal("reviews.default", a.GetTagItem("mesh.destination.service"));
            Assert.Equal("v2", a.GetTagItem("mesh.destination.subset"));
            Assert.Equal("jason", a.GetTagItem("mesh.route"));
            Assert.Equal("10.0.0.7", a.GetTagItem("server.address"));
        });
        Assert.Equal((1, "503", ActivityStatusCode.Error), ((int)attempts[0].GetTagItem("mesh.attempt")!, attempts[0].GetTagItem("mesh.outcome"), attempts[0].Status));
        Assert.Null(attempts[0].GetTagItem("mesh.retry.reason"));
        Assert.Equal((2, "200", "503"), ((int)attempts[1].GetTagItem("mesh.attempt")!, attempts[1].GetTagItem("mesh.outcome"), attempts[1].GetTagItem("mesh.retry.reason")));

        // Each attempt carried its own context to the next sidecar, not the app's.
        Assert.Equal([$"00-{parent.TraceId}-{attempts[0].SpanId}-01", $"00-{parent.TraceId}-{attempts[1].SpanId}-01"], upstream.TraceParents);
    }

    [Fact]
    public async Task UnsampledCall_MakesNoAttemptSpan_AndPassesItsOwnContextOnNotSampled()
    {
        // OpenTelemetry makes no activity for the child of a local span it did not sample: pinned here,
        // since an unrecorded span per attempt would cost every call for nothing.
        ObservabilityServices.UseMeshPropagation();
        var exported = new List<Activity>();
        var created = 0;
        using var counter = new ActivityListener
        {
            ShouldListenTo = s => s.Name == SidecarTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.None,
            ActivityStarted = _ => Interlocked.Increment(ref created),
        };
        ActivitySource.AddActivityListener(counter);
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(SidecarTelemetry.Name, "test")
            .SetSampler(new ParentBasedSampler(new AlwaysOffSampler()))
            .AddInMemoryExporter(exported)
            .Build();
        using var testSource = new ActivitySource("test");
        var upstream = new ScriptedUpstream(HttpStatusCode.OK);
        using var invoker = new HttpMessageInvoker(new UpstreamAttemptHandler(upstream));

        string expected;
        using (var server = testSource.StartActivity("outbound reviews", ActivityKind.Server))
        {
            Assert.NotNull(server); // made for propagation only
            Assert.False(server.Recorded);
            expected = $"00-{server.TraceId}-{server.SpanId}-00";
            var call = OutboundCall.Begin(new DefaultHttpContext());
            call.Destination = "reviews.default";
            call.BeginAttempt();
            using var request = new HttpRequestMessage(HttpMethod.Get, "http://10.0.0.7:15006/reviews/1");
            request.Options.Set(OutboundCall.RequestKey, call);
            using var _ = await invoker.SendAsync(request, CancellationToken.None);
        }
        tracing.ForceFlush();

        Assert.Equal(0, created);
        Assert.Empty(exported);
        Assert.Equal([expected], upstream.TraceParents);
    }

    [Fact]
    public async Task ConnectFailure_IsTheAttemptsOutcome_AndTheErrorGoesOn()
    {
        using var tracing = new CapturedSpans(SidecarTelemetry.Name);
        var upstream = new ScriptedUpstream(new HttpRequestException(HttpRequestError.ConnectionError, "refused"));
        using var invoker = new HttpMessageInvoker(new UpstreamAttemptHandler(upstream));
        var call = OutboundCall.Begin(new DefaultHttpContext());
        call.BeginAttempt();

        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:1/");
        request.Options.Set(OutboundCall.RequestKey, call);
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => invoker.SendAsync(request, CancellationToken.None));
        Assert.Equal(HttpRequestError.ConnectionError, error.HttpRequestError);
        var span = Assert.Single(tracing.Flushed());
        Assert.Equal(("connect-failure", 1, ActivityStatusCode.Error), (span.GetTagItem("mesh.outcome"), (int)span.GetTagItem("mesh.attempt")!, span.Status));
        // The handler describes the attempt; the call's counter and outcome are the resilience step's to keep.
        Assert.Equal(1, call.Attempt);
        Assert.Null(call.LastOutcome);
    }

    /// <summary>An upstream that answers from a script and records the trace context each request carried.</summary>
    private sealed class ScriptedUpstream(params object[] script) : HttpMessageHandler
    {
        private int _next;

        public List<string> TraceParents { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            TraceParents.Add(string.Join(",", request.Headers.TryGetValues("traceparent", out var v) ? v : []));
            return script[_next++] switch
            {
                HttpStatusCode status => Task.FromResult(new HttpResponseMessage(status)),
                Exception e => Task.FromException<HttpResponseMessage>(e),
                var other => throw new InvalidOperationException($"bad script entry {other}"),
            };
        }
    }
}
