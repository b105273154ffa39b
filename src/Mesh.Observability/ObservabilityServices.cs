using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry;
using OpenTelemetry.Context.Propagation;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Mesh.Observability;

/// <summary>Wires OpenTelemetry into a mesh process: traces over OTLP when an endpoint is set, metrics as Prometheus text.</summary>
public static class ObservabilityServices
{
    /// <summary>Latency buckets in milliseconds: fine below a millisecond, where a sidecar hop lives, up to 10 s.</summary>
    public static readonly double[] LatencyBucketsMs = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

    /// <summary>True when OTLP export is configured through the standard OpenTelemetry variables.</summary>
    public static bool OtlpConfigured =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));

    /// <summary>
    /// Sets the process-wide trace context propagator (W3C out; W3C or B3 in). Call before the host
    /// is built: ASP.NET Core takes the propagator when it starts.
    /// </summary>
    public static void UseMeshPropagation()
    {
        // ASP.NET Core extracts each call's context with the propagator below. OpenTelemetry's own
        // (W3C plus baggage by default) would extract it a second time on every call, and set
        // Baggage.Current, which nothing here reads; with plain W3C its instrumentation skips that.
        if (Propagators.DefaultTextMapPropagator is not TraceContextPropagator)
        {
            Sdk.SetDefaultTextMapPropagator(new TraceContextPropagator());
        }
        if (DistributedContextPropagator.Current is not B3Propagator)
        {
            DistributedContextPropagator.Current = new B3Propagator(DistributedContextPropagator.CreateW3CPropagator());
        }
    }

    public static IServiceCollection AddMeshObservability(this IServiceCollection services, ObservabilityOptions options)
    {
        UseMeshPropagation();
        // The web host registered the propagator it found when it was created; ASP.NET Core extracts with that one.
        services.Replace(ServiceDescriptor.Singleton(DistributedContextPropagator.Current));
        services.AddSingleton(options);
        services.AddOpenTelemetry()
            .ConfigureResource(r => r
                .AddService(options.ServiceName, serviceInstanceId: options.InstanceId)
                .AddAttributes(options.Attributes))
            .WithTracing(tracing =>
            {
                tracing
                    .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.SamplingRatio)))
                    .AddSource([.. options.Sources]);
                if (options.HostServerSpans)
                {
                    tracing.AddAspNetCoreInstrumentation(o => o.Filter = options.TraceFilter);
                }
                if (OtlpConfigured)
                {
                    tracing.AddOtlpExporter(); // endpoint, protocol (grpc or http/protobuf) and headers from OTEL_EXPORTER_OTLP_*
                }
            })
            .WithMetrics(metrics => metrics
                .AddMeter([.. options.Meters])
                .AddView(i => i.Unit == "ms" && i is System.Diagnostics.Metrics.Histogram<double>
                    ? new ExplicitBucketHistogramConfiguration { Boundaries = LatencyBucketsMs }
                    : null)
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0)); // every scrape sees the current values
        return services;
    }

    /// <summary>
    /// Serves the Prometheus text format at <c>/metrics</c> on the metrics port only. Call it before
    /// the process does anything worth measuring: it starts the meter and tracer providers, which
    /// otherwise start with the host and miss what happened before.
    /// </summary>
    public static IApplicationBuilder UseMeshMetricsEndpoint(this IApplicationBuilder app)
    {
        _ = app.ApplicationServices.GetRequiredService<MeterProvider>();
        _ = app.ApplicationServices.GetRequiredService<TracerProvider>();
        var options = app.ApplicationServices.GetRequiredService<ObservabilityOptions>();
        return app.UseOpenTelemetryPrometheusScrapingEndpoint(context =>
            context.Connection.LocalPort == options.MetricsPort && context.Request.Path == "/metrics");
    }
}
