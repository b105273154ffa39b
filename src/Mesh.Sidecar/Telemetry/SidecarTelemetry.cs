using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mesh.Sidecar.Telemetry;

/// <summary>
/// The sidecar's spans and instruments. Other parts of the sidecar (resilience, identity) add their
/// own instruments to the same <see cref="Meter"/>, so everything lands on one <c>/metrics</c> page.
/// </summary>
internal static class SidecarTelemetry
{
    public const string Name = "Mesh.Sidecar";

    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);

    /// <summary>Calls through the sidecar: <c>direction</c> (outbound from the app, inbound to it), <c>source</c>,
    /// <c>destination</c>, <c>subset</c>, <c>route</c>, <c>status</c> and, when the sidecar answered itself, <c>mesh_error</c>.</summary>
    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("mesh.requests", description: "Requests through the sidecar");

    public static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("mesh.request.duration", unit: "ms", description: "Time from the request's arrival at the sidecar to the end of its response");

    /// <summary>Attempts sent to upstream endpoints (more than requests when calls are retried), by outcome.</summary>
    public static readonly Counter<long> Attempts = Meter.CreateCounter<long>("mesh.upstream.attempts", description: "Attempts sent to upstream endpoints");

    /// <summary>Retries made, by <c>destination</c> and <c>reason</c> (what the previous attempt ended with).</summary>
    public static readonly Counter<long> Retries = Meter.CreateCounter<long>("mesh.retries", description: "Retries made after a failed attempt");

    /// <summary>Retries not made because the destination's retry budget was spent, by <c>destination</c>.</summary>
    public static readonly Counter<long> RetriesBudgetExhausted = Meter.CreateCounter<long>("mesh.retries.budget_exhausted", description: "Retries refused by the retry budget");

    /// <summary>Calls answered 503 at once because a connectionPool limit was reached, by <c>destination</c> and <c>limit</c>.</summary>
    public static readonly Counter<long> Overflows = Meter.CreateCounter<long>("mesh.overflows", description: "Calls refused by a connection-pool limit (circuit breaking)");

    /// <summary>Endpoints ejected by outlier detection, by <c>destination</c>.</summary>
    public static readonly Counter<long> Ejections = Meter.CreateCounter<long>("mesh.ejections", description: "Endpoints ejected by outlier detection");

    /// <summary>Inbound calls refused by AuthorizationPolicy (403), by <c>source</c>, <c>destination</c> and <c>policy</c>.</summary>
    public static readonly Counter<long> Denied = Meter.CreateCounter<long>("mesh.denied", description: "Inbound calls denied by authorization policy");

    /// <summary>Inbound connections refused before HTTP, by <c>reason</c> (plaintext, no-client-certificate, untrusted, expired, bad-identity, handshake).</summary>
    public static readonly Counter<long> InboundRefused = Meter.CreateCounter<long>("mesh.inbound.refused", description: "Inbound connections refused by mutual TLS");
}
