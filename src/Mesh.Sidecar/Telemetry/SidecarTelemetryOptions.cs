using Mesh.Observability;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Telemetry;

internal static class SidecarTelemetryOptions
{
    /// <summary>
    /// The sidecar reports as <c>&lt;service&gt;.&lt;namespace&gt;</c>, like Istio's proxies. Calls on
    /// the inbound and outbound ports get server spans, made by the sidecar itself (<see cref="ServerSpan"/>,
    /// started by <see cref="OutboundTelemetryStep"/> and the inbound forwarder); the admin port (probes,
    /// scrapes) gets none.
    /// </summary>
    public static ObservabilityOptions For(SidecarOptions options, BenchmarkSwitches switches) => new()
    {
        ServiceName = $"{options.Service}.{options.Namespace}",
        InstanceId = options.InstanceId,
        SamplingRatio = options.TraceSampling,
        Sources = switches.Tracing ? [SidecarTelemetry.Name] : [],
        // Kestrel's meter is per connection, not per request: connections it cut for a limit (slow headers,
        // a trickled body) show as kestrel_connection_duration_seconds{error_type=...}.
        Meters = switches.Metrics ? [SidecarTelemetry.Name, "Microsoft.AspNetCore.Server.Kestrel"] : [],
        HostServerSpans = false,
        MetricsPort = options.AdminPort,
        Attributes = new Dictionary<string, object>
        {
            ["service.namespace"] = options.Namespace,
            ["mesh.component"] = "sidecar",
        }.Concat(options.Labels.Select(l => KeyValuePair.Create("mesh.label." + l.Key, (object)l.Value))).ToDictionary(),
    };
}
