using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Mesh.Observability;

namespace Mesh.ControlPlane.Telemetry;

/// <summary>
/// The control plane's spans and instruments: registry size, open watches, snapshots pushed, config
/// versions and reloads, and propagation time (a snapshot's creation to each sidecar's acknowledgement).
/// </summary>
internal sealed class ControlPlaneTelemetry
{
    public const string Name = "Mesh.ControlPlane";

    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);
    private static readonly UpDownCounter<long> Watches = Meter.CreateUpDownCounter<long>("mesh.cp.watches", description: "Snapshot long polls open now");
    private static readonly Counter<long> Pushes = Meter.CreateCounter<long>("mesh.cp.pushes", description: "Snapshots sent to sidecars");
    private static readonly Counter<long> Reloads = Meter.CreateCounter<long>("mesh.cp.config.reloads", description: "Config directory loads, by result");
    private static readonly Counter<long> LimitedRequests = Meter.CreateCounter<long>("mesh.cp.requests.limited", description: "Requests refused by a rate or size limit, by limit");
    private static readonly Histogram<double> Propagation = Meter.CreateHistogram<double>("mesh.cp.propagation", unit: "ms", description: "From a snapshot's creation to a sidecar acknowledging it");

    public ControlPlaneTelemetry(ServiceRegistry registry, Registry.IRegistryStore store, SnapshotPublisher publisher)
    {
        Meter.CreateObservableGauge("mesh.cp.instances", () => registry.Instances
            .GroupBy(i => i.Health)
            .Select(g => new Measurement<long>(g.Count(), new KeyValuePair<string, object?>("health", g.Key.ToString().ToUpperInvariant()))),
            description: "Registered instances, by health");
        Meter.CreateObservableGauge("mesh.cp.leases.held", () => store.Hold?.Lapsed ?? 0, description: "Lapsed leases held by mass-expiry protection (on etcd, of the instances that heartbeat through this replica)");
        Meter.CreateObservableGauge("mesh.cp.snapshot.version", () => publisher.Version, description: "Current snapshot version");
        Meter.CreateObservableGauge("mesh.cp.config.version", () => publisher.ConfigVersion, description: "Current routing config version");
    }

    public static void WatchStarted() => Watches.Add(1);

    public static void WatchEnded() => Watches.Add(-1);

    public static void Pushed() => Pushes.Add(1);

    public static void Limited(string limit) => LimitedRequests.Add(1, new KeyValuePair<string, object?>("limit", limit));

    public static void ConfigLoaded(bool accepted) => Reloads.Add(1, new KeyValuePair<string, object?>("result", accepted ? "accepted" : "rejected"));

    public static void Acknowledged(PublishedSnapshot current, DateTimeOffset now) =>
        Propagation.Record(Math.Max(0, (now - current.Snapshot.CreatedAt).TotalMilliseconds));

    /// <summary>
    /// The control plane reports as <c>mesh-control-plane</c>. Registrations, deregistrations and
    /// admin calls (config reloads) are traced; heartbeats, watches and scrapes, which never stop, are not.
    /// </summary>
    public static ObservabilityOptions Options(ControlPlaneOptions options) => new()
    {
        ServiceName = "mesh-control-plane",
        InstanceId = Environment.MachineName.ToLowerInvariant() + ":" + options.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        SamplingRatio = options.TraceSampling,
        Sources = [Name],
        // Kestrel's own meter: connections it closed for a limit (slow headers, oversized headers) show in
        // kestrel_connection_duration_seconds by error_type, since no endpoint sees those requests.
        Meters = [Name, "Microsoft.AspNetCore.Server.Kestrel"],
        MetricsPort = options.AdminPort,
        TraceFilter = context => context.Request.Path.Value is { } path
            && !path.EndsWith("/heartbeat", StringComparison.Ordinal)
            && path is not ("/v1/snapshot" or "/metrics" or "/ready" or "/live" or "/v1/ca/root"),
        Attributes = new Dictionary<string, object> { ["mesh.component"] = "control-plane" },
    };
}
