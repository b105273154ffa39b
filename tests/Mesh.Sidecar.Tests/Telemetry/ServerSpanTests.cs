using System.Diagnostics;
using Mesh.Observability;
using Mesh.Sidecar.Telemetry;
using Microsoft.AspNetCore.Http;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Mesh.Sidecar.Tests.Telemetry;

/// <summary>The sidecar's own server spans, under OpenTelemetry's sampler, captured with its in-memory exporter.</summary>
// Tracer providers listen process-wide: tests that make one must not overlap, or each sees the other's sampling.
[Collection(TracingCollection.Name)]
public sealed class ServerSpanTests
{
    [Theory]
    [InlineData("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    [InlineData("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1")]
    public void CallersSampledContext_MakesAServerSpanUnderIt(string header, string value)
    {
        var exported = new List<Activity>();
        using (var tracing = Tracing(ratio: 0, exported))
        {
            var context = Call("/reviews/1", (header, value));
            var span = ServerSpan.Start(SidecarTelemetry.Source, context, "outbound");
            Assert.Same(span, Activity.Current);
            context.Response.StatusCode = 503;
            span!.DisplayName = "outbound reviews.default";
            ServerSpan.Finish(span, context);
            Assert.Null(Activity.Current);
            tracing.ForceFlush();
        }

        var server = Assert.Single(exported);
        Assert.Equal(ActivityKind.Server, server.Kind);
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", server.TraceId.ToHexString());
        Assert.Equal("00f067aa0ba902b7", server.ParentSpanId.ToHexString());
        Assert.Equal("outbound reviews.default", server.DisplayName);
        Assert.Equal(("GET", "/reviews/1", "reviews", 503), (server.GetTagItem("http.request.method"), server.GetTagItem("url.path"), server.GetTagItem("server.address"), server.GetTagItem("http.response.status_code")));
        Assert.Equal(ActivityStatusCode.Error, server.Status);
    }

    [Theory]
    [InlineData(null, null)] // a new trace, sampling 0
    [InlineData("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")] // the caller decided not to sample
    public void UnsampledCall_RecordsNothing_ButCarriesTheDecisionOn(string? header, string? value)
    {
        var exported = new List<Activity>();
        using (var tracing = Tracing(ratio: header is null ? 0 : 1, exported))
        {
            var context = header is null ? Call("/unsampled") : Call("/unsampled", (header, value!));
            var span = ServerSpan.Start(SidecarTelemetry.Source, context, "inbound");
            Assert.NotNull(span); // the context the attempt passes on, flagged not sampled
            Assert.False(span.Recorded);
            if (header is not null)
            {
                Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", span.TraceId.ToHexString());
            }
            ServerSpan.Finish(span, context);
            tracing.ForceFlush();
        }
        Assert.Empty(exported);
    }

    [Fact]
    public void WithNoTracerProvider_NoSpanIsMade()
    {
        var context = Call("/reviews/1", ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        using var source = new ActivitySource("nobody-listens");
        Assert.Null(ServerSpan.Start(source, context, "outbound"));
        ServerSpan.Finish(null, context);
    }

    private static TracerProvider Tracing(double ratio, List<Activity> exported)
    {
        ObservabilityServices.UseMeshPropagation();
        return Sdk.CreateTracerProviderBuilder()
            .AddSource(SidecarTelemetry.Name)
            .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio)))
            .AddInMemoryExporter(exported)
            .Build();
    }

    private static DefaultHttpContext Call(string path, params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("reviews");
        context.Request.Path = path;
        context.Request.Protocol = "HTTP/1.1";
        foreach (var (name, value) in headers)
        {
            context.Request.Headers[name] = value;
        }
        return context;
    }
}

/// <summary>Tests that build an OpenTelemetry tracer provider run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TracingCollection
{
    public const string Name = "tracing";
}
