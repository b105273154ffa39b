namespace Mesh.Sidecar.Telemetry;

/// <summary>
/// What the sidecar decided about one outbound call: the destination service, subset and route,
/// and how its attempts went. The routing step fills it in; the metrics step and each attempt's
/// span read it. It travels with the request as an HttpContext feature and, into the forwarder's
/// connection handler (which sees no HttpContext), through an async-local.
/// </summary>
internal sealed class OutboundCall
{
    private static readonly AsyncLocal<OutboundCall?> Ambient = new();
    private int _attempts;

    public static OutboundCall? Current => Ambient.Value;

    public string Host { get; set; } = "";
    public string Destination { get; set; } = "";
    public string Subset { get; set; } = "";
    public string Route { get; set; } = "";

    /// <summary>The cluster the routing step sent the call to, from the same state as its rule; the later steps read it here.</summary>
    public Configuration.RoutedCluster? Cluster { get; set; }

    /// <summary>The VirtualService rule that matched; its retry policy drives the attempts.</summary>
    public Mesh.Core.Routing.RouteRule? Rule { get; set; }

    /// <summary>How the previous attempt ended ("503", "connect-failure", ...): the reason the next one is a retry.</summary>
    public string? LastOutcome { get; set; }

    public int Attempts => Volatile.Read(ref _attempts);

    public int NextAttempt() => Interlocked.Increment(ref _attempts);

    public static OutboundCall Begin(HttpContext context)
    {
        var call = new OutboundCall();
        context.Features.Set(call);
        Ambient.Value = call;
        return call;
    }
}
