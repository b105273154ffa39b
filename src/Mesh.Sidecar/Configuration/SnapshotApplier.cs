using Mesh.Core.Hosting;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Configuration;

/// <summary>
/// Compiles a snapshot and swaps it in: YARP's config first, and once YARP has applied it the route
/// table with the clusters it resolved, as one state. Calls route on the previous state until then, so
/// no call ever sees a cluster the proxy does not hold. Anything that fails while compiling, or that
/// YARP refuses, leaves the running state untouched. One snapshot is applied at a time. A snapshot that applied is saved on disk so
/// a restart without the control plane routes on it.
/// </summary>
internal sealed class SnapshotApplier(
    SidecarOptions options,
    MeshState state,
    MeshProxyConfigProvider proxyConfig,
    ProxyConfigBuilder builder,
    Yarp.ReverseProxy.IProxyStateLookup lookup,
    Resilience.ResilienceRegistry resilience,
    TimeProvider time,
    ILogger<SnapshotApplier> logger,
    Gateway.GatewayListeners? gateway = null)
{
    public string SavedPath => Path.Combine(options.DataDir, "snapshot.json");

    private static readonly TimeSpan ProxyApplyTimeout = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    public async Task ApplyAsync(MeshSnapshot snapshot, string source, byte[]? json)
    {
        await _oneAtATime.WaitAsync().ConfigureAwait(false);
        try
        {
            // A gateway routes by the VirtualServices bound to its Gateway; every other sidecar by those bound to 'mesh'.
            var routes = RouteTable.Build(snapshot, options.Namespace, state.Current?.Routes, options.Gateway is { } name ? (options.Namespace, name) : null, options.Labels);
            var (yarpRoutes, clusters) = builder.Build(routes);
            var inbound = WorkloadPolicy.For(snapshot.Config, options.Namespace, options.Service, options.Labels);
            await proxyConfig.UpdateAsync(yarpRoutes, clusters).WaitAsync(ProxyApplyTimeout).ConfigureAwait(false);
            var resolved = new Dictionary<string, RoutedCluster>(StringComparer.Ordinal);
            foreach (var cluster in routes.Clusters)
            {
                if (!lookup.TryGetCluster(cluster.Id, out var proxyCluster))
                {
                    throw new InvalidOperationException($"the proxy applied snapshot {snapshot.Version} without its cluster '{cluster.Id}'");
                }
                var clusterResilience = resilience.For(cluster);
                resolved[cluster.Id] = new RoutedCluster(cluster, proxyCluster, clusterResilience);
                // An endpoint that left the registry and comes back starts with a clean record.
                clusterResilience.Local.Retain(cluster.HealthyEndpoints.Select(e => e.InstanceId).ToHashSet(StringComparer.Ordinal));
            }
            state.Set(new MeshState.Applied(snapshot, routes, source, time.GetUtcNow(), inbound, resolved));
            gateway?.Apply(snapshot.Config);
            if (json is not null)
            {
                Directory.CreateDirectory(options.DataDir);
                AtomicFile.Write(SavedPath, json);
            }
            Log.SnapshotApplied(logger, snapshot.Version, source, routes.KnownHosts.Count(), clusters.Count,
                snapshot.Instances.Count(i => i.Health == HealthStatus.Healthy));
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>Applies the snapshot saved by an earlier run, if there is one; returns its version or 0.</summary>
    public async Task<long> ApplySavedAsync()
    {
        if (!File.Exists(SavedPath))
        {
            return 0;
        }
        try
        {
            var snapshot = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(SavedPath), SidecarJson.Options.Info<MeshSnapshot>());
            if (snapshot is null)
            {
                return 0;
            }
            await ApplyAsync(snapshot, "disk", json: null).ConfigureAwait(false);
            return snapshot.Version;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or ArgumentException or FormatException or InvalidOperationException or TimeoutException)
        {
            Log.SavedSnapshotUnreadable(logger, SavedPath, e.Message);
            return 0;
        }
    }
}
