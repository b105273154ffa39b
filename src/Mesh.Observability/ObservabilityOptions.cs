namespace Mesh.Observability;

/// <summary>What a mesh process reports itself as, what it traces and measures, and how much it samples.</summary>
public sealed record ObservabilityOptions
{
    /// <summary>OpenTelemetry <c>service.name</c>, e.g. <c>reviews.default</c> or <c>mesh-control-plane</c>.</summary>
    public required string ServiceName { get; init; }

    public required string InstanceId { get; init; }

    /// <summary>Share of new traces recorded (0..1). A call that arrives with a sampling decision keeps it.</summary>
    public double SamplingRatio { get; init; } = 1.0;

    /// <summary>ActivitySource names whose spans are exported (besides ASP.NET Core's server spans when <see cref="HostServerSpans"/>).</summary>
    public IReadOnlyList<string> Sources { get; init; } = [];

    /// <summary>Meter names exported on <c>/metrics</c>.</summary>
    public IReadOnlyList<string> Meters { get; init; } = [];

    /// <summary>
    /// Whether ASP.NET Core's instrumentation makes the server spans (the control plane). The sidecar
    /// makes its own on its proxy ports (<see cref="ServerSpan"/>), which costs unsampled calls far less.
    /// </summary>
    public bool HostServerSpans { get; init; } = true;

    /// <summary>Which requests get a host server span; admin calls, scrapes and heartbeats are not traffic.</summary>
    public Func<Microsoft.AspNetCore.Http.HttpContext, bool> TraceFilter { get; init; } = _ => true;

    /// <summary>Extra resource attributes, e.g. the namespace and version of the instance.</summary>
    public IReadOnlyDictionary<string, object> Attributes { get; init; } = new Dictionary<string, object>();

    /// <summary>The port and path where Prometheus scrapes (<c>/metrics</c> on the admin port).</summary>
    public required int MetricsPort { get; init; }
}
