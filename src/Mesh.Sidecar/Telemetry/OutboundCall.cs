using Mesh.Core.Routing;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Resilience;

namespace Mesh.Sidecar.Telemetry;

/// <summary>
/// One outbound call, the only state that travels with it: the destination service, subset and route,
/// the routed cluster (bound when the snapshot was applied), the attempt number and how the last attempt
/// ended. The telemetry step makes it, the routing step fills in where the call goes, the resilience
/// step counts and reports its attempts; every step reads it from the one HttpContext feature, and the
/// forwarder's connection handler (which sees no HttpContext) from the upstream request's options,
/// where the attempt's request transform puts it.
/// </summary>
internal sealed class OutboundCall
{
    /// <summary>Where the connection handler finds the call an upstream request belongs to.</summary>
    public static readonly HttpRequestOptionsKey<OutboundCall> RequestKey = new("mesh.call");

    public string Host { get; set; } = "";
    public string Destination { get; set; } = "";
    public string Subset { get; set; } = "";
    public string Route { get; set; } = "";

    /// <summary>The cluster the routing step sent the call to, from the same state as its rule; the later steps read it here.</summary>
    public RoutedCluster? Cluster { get; set; }

    /// <summary>The VirtualService rule that matched; its retry policy drives the attempts.</summary>
    public RouteRule? Rule { get; set; }

    /// <summary>The retry policy of the matched rule (Istio's default when it sets none).</summary>
    public Mesh.Core.Resilience.RetryPolicy RetryPolicy => Rule?.RetryPolicy ?? Mesh.Core.Resilience.RetryPolicy.IstioDefault;

    /// <summary>
    /// The one attempt counter: attempts sent so far, the one in flight included (1 during the first).
    /// Only the resilience step moves it (<see cref="BeginAttempt"/>); spans and metrics read it.
    /// </summary>
    public int Attempt { get; private set; }

    /// <summary>How the previous attempt ended: the reason the next one is a retry. Set by the resilience step once the attempt is over.</summary>
    public AttemptOutcome? LastOutcome { get; private set; }

    /// <summary>The call's retry decision, when the resilience step handles it (none for a call without a routed cluster).</summary>
    public RetryDecision? Retries { get; set; }

    public int BeginAttempt() => ++Attempt;

    public void Report(AttemptOutcome outcome) => LastOutcome = outcome;

    public static OutboundCall Begin(HttpContext context)
    {
        var call = new OutboundCall();
        context.Features.Set(call);
        return call;
    }
}
