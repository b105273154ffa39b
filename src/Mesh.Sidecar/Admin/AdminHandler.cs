using System.Text.Json;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Registration;
using Mesh.Sidecar.Resilience;
using Mesh.Observability;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Admin;

/// <summary>The admin port (127.0.0.1 only): readiness, liveness, the applied config and the endpoints.</summary>
internal sealed class AdminHandler(Readiness readiness, MeshState state, IProxyStateLookup proxy, RegistrationAgent registration, SidecarOptions options, ResilienceRegistry resilience,
    Peering.RemoteLatency latency)
{
    public Task InvokeAsync(HttpContext context) => context.Request.Path.Value switch
    {
        "/ready" => Ready(context),
        "/live" => Text(context, StatusCodes.Status200OK, "live"),
        "/config_dump" => ConfigDump(context),
        "/clusters" => Clusters(context),
        _ => Text(context, StatusCodes.Status404NotFound, "admin endpoints: /ready /live /config_dump /clusters /metrics"),
    };

    private Task Ready(HttpContext context) =>
        registration.Draining ? Text(context, StatusCodes.Status503ServiceUnavailable, "not ready: draining (shutting down)")
        : readiness.IsReady ? Text(context, StatusCodes.Status200OK, readiness.Reason)
        : Text(context, StatusCodes.Status503ServiceUnavailable, "not ready: " + readiness.Reason);

    private Task ConfigDump(HttpContext context)
    {
        var applied = state.Current;
        return RedactedJson(context, new ConfigDump(
            options.NodeId, options.Service, options.Namespace, registration.Registered,
            applied?.Snapshot.Version ?? 0, applied?.Snapshot.ConfigVersion ?? 0, applied?.Source, applied?.AppliedAt,
            applied?.Snapshot.Config, applied?.Snapshot.Instances, applied?.Snapshot.Scope));
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    private Task Clusters(HttpContext context)
    {
        var clusters = proxy.GetClusters()
            .Where(c => c.ClusterId != ProxyConfigBuilder.LocalAnswerCluster)
            .OrderBy(c => c.ClusterId, StringComparer.Ordinal)
            .Select(c => (c, state: resilience.Find(c.ClusterId)))
            .Select(x => (x.c, outliers: x.state?.Outliers, local: x.state?.Local))
            .Select(x => new ClusterView(
                x.c.ClusterId,
                x.c.Model.Config.LoadBalancingPolicy,
                x.c.Destinations.Values.OrderBy(d => d.DestinationId, StringComparer.Ordinal).Select(d => new EndpointView(
                    d.DestinationId,
                    d.Model.Config.Address,
                    d.Model.Config.Metadata?.GetValueOrDefault(LocalityStep.RegionKey),
                    d.Model.Config.Metadata?.GetValueOrDefault(LocalityStep.ZoneKey),
                    d.Health.Passive.ToString(),
                    x.outliers?.IsEjected(d.DestinationId) == true || x.local?.IsEjected(d.DestinationId) == true,
                    Later(x.outliers?.EjectedUntil(d.DestinationId), x.local?.EjectedUntil(d.DestinationId)),
                    x.local?.IsEjected(d.DestinationId) == true ? "unreachable" : x.outliers?.IsEjected(d.DestinationId) == true ? "outlier-detection" : null,
                    d.ConcurrentRequestCount,
                    d.Model.Config.Metadata?.GetValueOrDefault(ProxyConfigBuilder.PeerKey),
                    d.Model.Config.Metadata?.GetValueOrDefault(ProxyConfigBuilder.StaleKey) == "true",
                    latency.Get(d.Model.Config.Address) is { } rtt ? Math.Round(rtt, 2) : null))));
        return Json(context, clusters);
    }

    private static Task Text(HttpContext context, int status, string body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(body + "\n");
    }

    /// <summary>The applied config never shows a key or token, whatever a future snapshot carries.</summary>
    private static Task RedactedJson(HttpContext context, ConfigDump value)
    {
        var node = SecretRedactor.Redact(JsonSerializer.SerializeToNode(value, SidecarJson.Indented.Info<ConfigDump>()));
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(node?.ToJsonString(SidecarJson.Indented) ?? "null");
    }

    private static Task Json<T>(HttpContext context, T value)
    {
        context.Response.ContentType = "application/json";
        return context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(value, SidecarJson.Indented.Info<T>())).AsTask();
    }
}

/// <summary><c>/config_dump</c>: the applied snapshot and where it came from.</summary>
internal sealed record ConfigDump(
    string Node, string Service, string Namespace, bool Registered, long Version, long ConfigVersion,
    string? Source, DateTimeOffset? AppliedAt, ConfigSet? Config, IReadOnlyList<ServiceInstance>? Instances, SnapshotScope? Scope);

/// <summary>One cluster on <c>/clusters</c>.</summary>
internal sealed record ClusterView(string Cluster, string? LoadBalancer, IEnumerable<EndpointView> Endpoints);

/// <summary>One endpoint of a cluster on <c>/clusters</c>: health, ejection and calls in flight.</summary>
internal sealed record EndpointView(
    string Instance, string Address, string? Region, string? Zone, string Health, bool Ejected, DateTimeOffset? EjectedUntil, string? EjectedFor, int InFlight,
    string? Peer = null, bool Stale = false, double? RttMs = null);
