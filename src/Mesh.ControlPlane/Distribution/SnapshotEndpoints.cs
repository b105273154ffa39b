using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Telemetry;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Distribution;

/// <summary>
/// GET /v1/snapshot?version=N[&amp;delta=1]: a long poll like Consul's blocking queries; with delta=1 the
/// answer is a <see cref="SnapshotDelta"/> from N when N is recent enough (header X-Mesh-Delta: N). It answers at once when the
/// current version differs from N, otherwise when a change comes or the wait ends (304). The call
/// also carries the sidecar's acknowledgement: the version it applied, or why it rejected one.
/// </summary>
internal static class SnapshotEndpoints
{
    private static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(5);

    private static bool AcceptsGzip(HttpRequest request)
    {
        foreach (var value in request.Headers.AcceptEncoding)
        {
            if (value is not null && value.Contains("gzip", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// A watch whose connection closed under it (the sidecar's process died, or its host reset the
    /// connection): unless the sidecar watches again within the grace, its instance is marked unhealthy
    /// and every caller hears of it with the next push, instead of after the lease TTL.
    /// </summary>
    private static async Task WatchBrokenAsync(string node, Mesh.Core.Security.SpiffeId caller, ProxyStatusTracker tracker, ServiceRegistry registry, Registry.IRegistryStore store, TimeProvider time, ILogger logger)
    {
        var grace = registry.Options.DisconnectGrace;
        if (grace <= TimeSpan.Zero || !node.EndsWith("." + caller.Namespace, StringComparison.Ordinal))
        {
            return;
        }
        var watches = tracker.Watches(node);
        await Task.Delay(grace, time).ConfigureAwait(false);
        if (tracker.Watches(node) != watches)
        {
            return; // it came back
        }
        // The node is "<instance id>.<namespace>"; the instance must be the caller's own.
        var instanceId = node[..^(caller.Namespace.Length + 1)];
        try
        {
            if (registry.Find(instanceId) is { } instance && instance.Service == caller.Service && instance.Namespace == caller.Namespace
                && await store.MarkUnreachableAsync(instanceId, CancellationToken.None).ConfigureAwait(false))
            {
                Log.MarkedUnreachable(logger, instanceId, grace);
            }
        }
        catch (Registry.Etcd.EtcdUnavailableException e)
        {
            Log.RegistryWriteFailed(logger, e.Message); // its lease runs out instead
        }
    }

    /// <summary>
    /// The Sidecar scope of the watcher: its namespace and service from its certificate, its labels as it
    /// reports them (its --label flags). A gateway is never scoped, as in Istio. Scoping decides what config
    /// a sidecar holds, not what it may do: AuthorizationPolicy on the callee is the access control.
    /// </summary>
    private static Mesh.Core.Scoping.SidecarScope? ScopeOf(HttpContext context, ScopedSnapshots scoped, PublishedSnapshot current, MeshCertificateAuthority ca)
    {
        var query = context.Request.Query;
        if (current.Snapshot.Config.Sidecars.Count == 0 || query["gateway"] == "1" || context.User.Workload(ca.TrustDomain) is not { } caller)
        {
            return null;
        }
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var label in query["label"])
        {
            if (label?.IndexOf('=') is > 0 and var eq)
            {
                labels[label[..eq]] = label[(eq + 1)..];
            }
        }
        return scoped.ScopeFor(current.Snapshot.Config, current.Snapshot.ConfigVersion, caller.Namespace, caller.Service, labels);
    }

    private static IResult Delta(HttpContext context, (long Version, byte[] Json) delta, long known)
    {
        context.Response.Headers["X-Mesh-Version"] = delta.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["X-Mesh-Delta"] = known.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Bytes(delta.Json, "application/json");
    }

    public static void MapSnapshots(this RouteGroupBuilder api)
    {
        api.MapGet("/v1/snapshot", async (HttpContext context, SnapshotPublisher publisher, ScopedSnapshots scoped, ServiceRegistry registry, Registry.IRegistryStore store, ProxyStatusTracker tracker, TimeProvider time, MeshCertificateAuthority ca, IHostApplicationLifetime lifetime, ILogger<SnapshotPublisher> logger) =>
        {
            var query = context.Request.Query;
            long.TryParse(query["version"], out var known);
            // A version from another run of the control plane (it restarted; its versions may have been
            // reused if the last ones were not saved) means nothing here: answer with the whole snapshot.
            var fromOtherRun = query["epoch"].ToString() is { Length: > 0 } epoch && epoch != publisher.Epoch;
            if (fromOtherRun)
            {
                known = -1;
            }
            long.TryParse(query["applied"], out var applied);
            if (fromOtherRun)
            {
                applied = -1; // what it applied came from the previous run: not in sync with this one yet
            }
            var node = query["node"].ToString();
            var error = query["error"].ToString() is { Length: > 0 } e ? e : null;
            var wait = TimeSpan.TryParse(query["wait"], System.Globalization.CultureInfo.InvariantCulture, out var w) && w > TimeSpan.Zero
                ? (w < MaxWait ? w : MaxWait)
                : DefaultWait;

            if (node.Length > 0)
            {
                // The service a watcher reports is the one its certificate proves, whatever the query says.
                var caller = context.User.Workload(ca.TrustDomain)!;
                if (tracker.Seen(node, caller.Service, caller.Namespace, applied, error) && publisher.Current is { } current && current.Version == applied)
                {
                    ControlPlaneTelemetry.Acknowledged(current, time.GetUtcNow());
                }
                if (error is not null)
                {
                    Log.SnapshotRejected(logger, node, known, error);
                }
            }
            ControlPlaneTelemetry.WatchStarted();
            try
            {
                // A sidecar of an earlier run keeps routing with what it has until a registry that started
                // empty has had time to hear from every live instance again (Eureka waits the same way); a
                // watch that ends first is answered "not modified" and asks again.
                if (fromOtherRun && registry.WarmUpRemaining(time.GetUtcNow()) is { Ticks: > 0 } warmUp)
                {
                    await Task.Delay(warmUp < wait ? warmUp : wait, time, context.RequestAborted).ConfigureAwait(false);
                    if (warmUp > wait)
                    {
                        return Results.StatusCode(StatusCodes.Status304NotModified);
                    }
                }
                var snapshot = await publisher.WaitAsync(known, wait, context.RequestAborted).ConfigureAwait(false);
                if (snapshot is null)
                {
                    return Results.StatusCode(StatusCodes.Status304NotModified);
                }
                ControlPlaneTelemetry.Pushed();
                // A sidecar that asks for deltas and holds a version still in the history gets only what changed.
                context.Response.Headers["X-Mesh-Epoch"] = publisher.Epoch;
                // What it held was cut by another scope (a Sidecar resource was added, changed or removed): it
                // needs all of its new scope, not what changed in it.
                var scope = ScopeOf(context, scoped, snapshot, ca);
                var sameScope = query["scope"].ToString() == (scope?.Wire.Key ?? "");
                var deltaAsked = query["delta"] == "1" && !fromOtherRun && known > 0 && sameScope;
                if (scope is not null)
                {
                    if (deltaAsked && scoped.Delta(known, scope) is { } scopedDelta)
                    {
                        return Delta(context, scopedDelta, known);
                    }
                    snapshot = scoped.Full(snapshot, scope);
                }
                else if (deltaAsked && publisher.Delta(known) is { } delta)
                {
                    return Delta(context, delta, known);
                }
                context.Response.Headers["X-Mesh-Version"] = snapshot.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (AcceptsGzip(context.Request))
                {
                    context.Response.Headers.ContentEncoding = "gzip";
                    return Results.Bytes(snapshot.Gzip, "application/json");
                }
                return Results.Bytes(snapshot.Json, "application/json");
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return Results.Empty;
            }
            finally
            {
                ControlPlaneTelemetry.WatchEnded();
                if (node.Length > 0)
                {
                    tracker.WatchEnded(node);
                    if (context.RequestAborted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested)
                    {
                        _ = WatchBrokenAsync(node, context.User.Workload(ca.TrustDomain)!, tracker, registry, store, time, logger);
                    }
                }
            }
        });
    }
}
