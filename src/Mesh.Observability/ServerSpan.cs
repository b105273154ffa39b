using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Mesh.Observability;

/// <summary>
/// A server span the process makes itself, for hosts that switch off ASP.NET Core's own
/// (<see cref="ObservabilityOptions.HostServerSpans"/>). With OpenTelemetry's ASP.NET Core
/// instrumentation on, the web host makes an activity, extracts the caller's context and baggage and
/// raises diagnostic events for every call, sampled or not; on a proxy that is the largest per-call
/// cost of tracing (docs/performance.md). Here the caller's context (W3C or B3) is extracted once and
/// the tracer provider's sampler decides as it would for the host's span; an unsampled call gets only
/// the lightweight activity that carries its decision on.
/// </summary>
public static class ServerSpan
{
    private static readonly DistributedContextPropagator.PropagatorGetterCallback HeaderGetter = static (carrier, name, out value, out values) =>
    {
        values = null;
        value = carrier is IHeaderDictionary headers && headers.TryGetValue(name, out var found) ? found.ToString() : null;
    };

    /// <summary>Starts the span of an incoming call, a child of the context the caller sent; null when nothing listens.</summary>
    public static Activity? Start(ActivitySource source, HttpContext context, string name)
    {
        var request = context.Request;
        DistributedContextPropagator.Current.ExtractTraceIdAndState(request.Headers, HeaderGetter, out var traceParent, out var traceState);
        ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent);
        var span = source.StartActivity(name, ActivityKind.Server, parent);
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("http.request.method", request.Method);
            span.SetTag("url.scheme", request.Scheme);
            span.SetTag("url.path", request.Path.Value);
            span.SetTag("server.address", request.Host.Host);
            if (request.Host.Port is { } port)
            {
                span.SetTag("server.port", port);
            }
            span.SetTag("network.protocol.version", ProtocolVersion(request.Protocol));
            if (request.Headers.UserAgent is { Count: > 0 } agent)
            {
                span.SetTag("user_agent.original", agent.ToString());
            }
        }
        return span;
    }

    /// <summary>
    /// Records how the call ended (a 5xx is an error of this server) and ends the span. Callers name a
    /// recorded span themselves, so an unsampled call builds no name.
    /// </summary>
    public static void Finish(Activity? span, HttpContext context)
    {
        if (span is null)
        {
            return;
        }
        if (span.IsAllDataRequested)
        {
            var status = context.Response.StatusCode;
            span.SetTag("http.response.status_code", status);
            if (status >= 500)
            {
                span.SetTag("error.type", status.ToString(CultureInfo.InvariantCulture));
                span.SetStatus(ActivityStatusCode.Error);
            }
        }
        span.Dispose();
    }

    private static string ProtocolVersion(string protocol) => protocol switch
    {
        "HTTP/1.1" => "1.1",
        "HTTP/2" => "2",
        "HTTP/1.0" => "1.0",
        "HTTP/3" => "3",
        _ => protocol,
    };
}
