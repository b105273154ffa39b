using Mesh.Observability;
using System.Diagnostics;

namespace Mesh.Sidecar.Telemetry;

/// <summary>Ends the inbound server span and counts the call once the app's response is done.</summary>
internal static class InboundTelemetry
{
    public static void Record(HttpContext context, string service, long started, Activity? span)
    {
        var source = Source(context);
        var (status, error) = OutboundTelemetryStep.Outcome(context);
        // Unsampled spans (most, at 1%) record nothing: skip the tag work for them.
        if (span is { IsAllDataRequested: true })
        {
            span.DisplayName = $"inbound {service}";
            span.SetTag("mesh.direction", "inbound");
            span.SetTag("mesh.source", source);
            span.SetTag("network.peer.address", context.Connection.RemoteIpAddress?.ToString());
        }
        ServerSpan.Finish(span, context);
        var tags = new TagList
        {
            { "direction", "inbound" },
            { "source", source },
            { "destination", service },
            { "subset", "" },
            { "route", "" },
            { "status", status },
            { "mesh_error", error },
        };
        var milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        SidecarTelemetry.Requests.Add(1, tags);
        SidecarTelemetry.Duration.Record(milliseconds, tags);
        InboundTally.Record(source, context.Response.StatusCode, milliseconds);
    }

    /// <summary>The calling workload as <c>service.namespace</c>, from its verified SPIFFE id; <c>unknown</c> over plaintext.</summary>
    internal static string Source(HttpContext context) =>
        context.Features.Get<Mesh.Sidecar.Security.PeerIdentityFeature>()?.Workload ?? "unknown";
}
