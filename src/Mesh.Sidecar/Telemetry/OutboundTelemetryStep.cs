using Mesh.Observability;
using System.Diagnostics;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Outbound;

namespace Mesh.Sidecar.Telemetry;

/// <summary>
/// Wraps every call on the outbound port (routed, refused or unknown host): names its server span
/// after the destination and records <c>mesh.requests</c> and <c>mesh.request.duration</c> once the
/// response is done.
/// </summary>
internal sealed class OutboundTelemetryStep(RequestDelegate next, SidecarOptions options)
{
    private readonly string _source = $"{options.Service}.{options.Namespace}";

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var call = OutboundCall.Begin(context);
        call.Host = context.Request.Host.Host;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            Record(context, call, started);
        }
    }

    private void Record(HttpContext context, OutboundCall call, long started)
    {
        var status = context.Response.StatusCode;
        var destination = call.Destination.Length > 0 ? call.Destination : call.Host;
        // Unsampled spans (most, at 1%) record nothing: skip the tag work for them.
        if (Activity.Current is { IsAllDataRequested: true } span)
        {
            TraceContext.SetServerSpanName(span, $"outbound {destination}");
            span.SetTag("mesh.direction", "outbound");
            span.SetTag("mesh.destination.service", destination);
            span.SetTag("mesh.destination.subset", call.Subset);
            span.SetTag("mesh.route", call.Route);
            span.SetTag("mesh.attempts", call.Attempts);
            if (context.Response.Headers[MeshResponses.ErrorHeader] is { Count: > 0 } error)
            {
                span.SetTag("mesh.error", error.ToString());
            }
        }
        var tags = new TagList
        {
            { "direction", "outbound" },
            { "source", _source },
            { "destination", destination },
            { "subset", call.Subset },
            { "route", call.Route },
            { "status", StatusText(status) },
            { "mesh_error", context.Response.Headers[MeshResponses.ErrorHeader].ToString() },
        };
        SidecarTelemetry.Requests.Add(1, tags);
        SidecarTelemetry.Duration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, tags);
    }

    /// <summary>Status codes as label values without allocating for the common ones.</summary>
    internal static string StatusText(int status) => status switch
    {
        200 => "200",
        404 => "404",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
