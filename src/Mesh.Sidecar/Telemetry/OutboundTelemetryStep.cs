using Mesh.Observability;
using System.Diagnostics;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Outbound;

namespace Mesh.Sidecar.Telemetry;

/// <summary>
/// Wraps every call on the outbound port (routed, refused or unknown host): makes its server span,
/// named after the destination, and records <c>mesh.requests</c> and <c>mesh.request.duration</c> once the
/// response is done.
/// </summary>
internal sealed class OutboundTelemetryStep(RequestDelegate next, SidecarOptions options)
{
    private readonly string _source = $"{options.Service}.{options.Namespace}";

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var span = ServerSpan.Start(SidecarTelemetry.Source, context, "outbound");
        var call = OutboundCall.Begin(context);
        call.Host = context.Request.Host.Host;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            Record(context, call, started, span);
        }
    }

    private void Record(HttpContext context, OutboundCall call, long started, Activity? span)
    {
        var destination = call.Destination.Length > 0 ? call.Destination : call.Host;
        var (status, error) = Outcome(context);
        // Unsampled spans (most, at 1%) record nothing: skip the tag work for them.
        if (span is { IsAllDataRequested: true })
        {
            span.DisplayName = $"outbound {destination}";
            span.SetTag("mesh.direction", "outbound");
            span.SetTag("mesh.destination.service", destination);
            span.SetTag("mesh.destination.subset", call.Subset);
            span.SetTag("mesh.route", call.Route);
            span.SetTag("mesh.attempts", call.Attempt);
            if (error.Length > 0)
            {
                span.SetTag("mesh.error", error);
            }
        }
        ServerSpan.Finish(span, context);
        var tags = new TagList
        {
            { "direction", "outbound" },
            { "source", _source },
            { "destination", destination },
            { "subset", call.Subset },
            { "route", call.Route },
            { "status", status },
            { "mesh_error", error },
        };
        SidecarTelemetry.Requests.Add(1, tags);
        SidecarTelemetry.Duration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, tags);
    }

    /// <summary>
    /// The status and error labels of a finished call. A caller that went away is <c>downstream-disconnect</c>
    /// (Envoy's DC flag), with status 0 if it left before any answer.
    /// </summary>
    internal static (string Status, string Error) Outcome(HttpContext context)
    {
        if (context.RequestAborted.IsCancellationRequested)
        {
            return (context.Response.HasStarted ? StatusText(context.Response.StatusCode) : "0", DownstreamDisconnect);
        }
        return (StatusText(context.Response.StatusCode), context.Response.Headers[MeshResponses.ErrorHeader].ToString());
    }

    public const string DownstreamDisconnect = "downstream-disconnect";

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
