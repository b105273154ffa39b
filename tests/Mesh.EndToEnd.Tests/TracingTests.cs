using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Traces from real sidecars to a real OTLP receiver on loopback: the demo's three-hop call
/// (gateway → storefront → reviews → ratings) is one trace with the right parent/child chain, over both OTLP
/// transports; and a caller that sends only B3 headers is joined to its trace.
/// </summary>
[Collection(DemoCollection.Name)]
public sealed class TracingTests
{
    [Theory]
    [InlineData("grpc")]
    [InlineData("http/protobuf")]
    public async Task ThreeHopCall_IsOneTraceWithTheExpectedChain(string protocol)
    {
        await using var receiver = await OtlpReceiver.StartAsync(grpc: protocol == "grpc");
        var dataDir = Directory.CreateTempSubdirectory("mesh-trace-test-").FullName;
        await using var demo = MeshProcess.StartDll("demo", RepoPaths.DemoDll, ["--smoke", "--free-ports", "--data-dir", dataDir], new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol,
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        });
        Assert.True(await demo.WaitForExitAsync(TimeSpan.FromMinutes(3)) == 0, demo.Output);

        // The end user "jason" is routed to reviews v2, which calls ratings: pick that trace.
        var spans = receiver.Spans.ToArray();
        var jasonAttempt = spans.FirstOrDefault(s => s.Kind == ReceivedSpan.Client && s.Attribute("mesh.destination.subset") == "v2");
        Assert.True(jasonAttempt is not null, $"no client span to reviews v2 among {spans.Length} spans:\n{Describe(spans)}");
        var trace = spans.Where(s => s.TraceId == jasonAttempt.TraceId).ToDictionary(s => s.SpanId);

        // One root: the ingress gateway's span for the test's call (the demo is entered through it); every other span's parent is in the trace.
        var root = Assert.Single(trace.Values, s => s.ParentSpanId.Length == 0);
        Assert.Equal(("bookshop-gateway.default", ReceivedSpan.Server, "outbound"), (root.Service, root.Kind, root.Attribute("mesh.direction")));
        Assert.All(trace.Values.Where(s => s != root), s => Assert.True(trace.ContainsKey(s.ParentSpanId), $"orphan span {s.Name} of {s.Service}"));

        // From ratings' inbound span up to the root, hop by hop.
        var ratingsInbound = trace.Values.First(s => s.Service == "ratings.default" && s.Kind == ReceivedSpan.Server); // one per book
        var chain = new List<string>();
        for (var span = ratingsInbound; ; span = trace[span.ParentSpanId])
        {
            chain.Add($"{span.Service} {(span.Kind == ReceivedSpan.Client ? "attempt" : span.Attribute("mesh.direction"))}");
            if (span.ParentSpanId.Length == 0)
            {
                break;
            }
        }
        Assert.Equal(
        [
            "ratings.default inbound",
            "reviews.default attempt", "reviews.default outbound", "reviews.default inbound",
            "storefront.default attempt", "storefront.default outbound", "storefront.default inbound",
            "bookshop-gateway.default attempt", "bookshop-gateway.default outbound",
        ], chain);

        // Each attempt says where it went and how it ended.
        Assert.Equal("reviews.default", jasonAttempt.Attribute("mesh.destination.service"));
        Assert.Equal("127.0.0.1", jasonAttempt.Attribute("server.address"));
        Assert.Equal("200", jasonAttempt.Attribute("mesh.outcome"));
        Assert.Equal("1", jasonAttempt.Attribute("mesh.attempt"));
    }

    [Fact]
    public async Task CallerWithB3Headers_JoinsItsTrace()
    {
        await using var receiver = await OtlpReceiver.StartAsync(grpc: false);
        await using var mesh = new MeshCluster();
        mesh.ExportTracesTo(receiver);
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1", "--trace-sampling", "0");
            await mesh.StartServiceAsync("details", "details-1", "--trace-sampling", "0");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "details.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "details routable");

            // Sampling is 0 for new traces, so only the caller's B3 decision ("sampled") makes these spans exist.
            const string traceId = "463ac35c9f6413ad48485a3953bb6124";
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(caller.Outbound, "/details/1"));
            request.Headers.Host = "details";
            request.Headers.Add("b3", $"{traceId}-a2fb4a1d1a96d312-1");
            Assert.Equal(System.Net.HttpStatusCode.OK, (await mesh.Http.SendAsync(request)).StatusCode);

            var spans = await Eventually.ValueAsync(() => Task.FromResult(receiver.Spans.Where(s => s.TraceId == traceId).ToArray()),
                s => s.Any(x => x.Service == "details.default") && s.Any(x => x.Service == "productpage.default" && x.Kind == ReceivedSpan.Server), TimeSpan.FromSeconds(20), () => "spans of the B3 trace from both sidecars");
            var outbound = Assert.Single(spans, s => s.Service == "productpage.default" && s.Kind == ReceivedSpan.Server);
            Assert.Equal("a2fb4a1d1a96d312", outbound.ParentSpanId);

            // A retried call shows each attempt, the endpoint it hit, and why the next was made
            // (Istio's default policy retries a 503 twice).
            const string retriedTrace = "5b8efff798038103d269b633813fc60c";
            using var failing = new HttpRequestMessage(HttpMethod.Get, new Uri(caller.Outbound, "/status/503"));
            failing.Headers.Host = "details";
            failing.Headers.Add("b3", $"{retriedTrace}-b7ad6b7169203331-1");
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await mesh.Http.SendAsync(failing)).StatusCode);
            var attempts = await Eventually.ValueAsync(
                () => Task.FromResult(receiver.Spans.Where(s => s.TraceId == retriedTrace && s.Kind == ReceivedSpan.Client).OrderBy(s => s.Attribute("mesh.attempt")).ToArray()),
                a => a.Length == 3, TimeSpan.FromSeconds(20), () => "three attempt spans");
            Assert.Equal(["1", "2", "3"], attempts.Select(a => a.Attribute("mesh.attempt")));
            Assert.All(attempts, a => Assert.Equal("503", a.Attribute("mesh.outcome")));
            Assert.Equal(["", "503", "503"], attempts.Select(a => a.Attribute("mesh.retry.reason")));
            Assert.All(attempts, a => Assert.NotEqual("", a.Attribute("server.port")));

            // With no incoming context and sampling 0, nothing is recorded.
            Assert.Equal(System.Net.HttpStatusCode.OK, (await mesh.CallAsync(caller, "details", "/unsampled")).Status);
            await Task.Delay(1000);
            Assert.DoesNotContain(receiver.Spans, s => s.Attribute("url.path") == "/unsampled");
        });
    }

    private static string Describe(IEnumerable<ReceivedSpan> spans) =>
        string.Join('\n', spans.Select(s => $"{s.TraceId[..8]} {s.SpanId} <- {s.ParentSpanId} {s.Service} {s.Name} kind={s.Kind}"));
}
