using Mesh.Core.Hosting;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Configuration;

/// <summary>
/// Compiles a snapshot and swaps it in: route table first, then YARP's config. Anything that fails
/// while compiling leaves the running state untouched. A snapshot that applied is saved on disk so
/// a restart without the control plane routes on it.
/// </summary>
internal sealed class SnapshotApplier(
    SidecarOptions options,
    MeshState state,
    MeshProxyConfigProvider proxyConfig,
    ProxyConfigBuilder builder,
    TimeProvider time,
    ILogger<SnapshotApplier> logger)
{
    public string SavedPath => Path.Combine(options.DataDir, "snapshot.json");

    public void Apply(MeshSnapshot snapshot, string source, byte[]? json)
    {
        var routes = RouteTable.Build(snapshot, options.Namespace);
        var (yarpRoutes, clusters) = builder.Build(routes);
        var inbound = WorkloadPolicy.For(snapshot.Config, options.Namespace, options.Service, options.Labels);
        state.Set(new MeshState.Applied(snapshot, routes, source, time.GetUtcNow(), inbound));
        proxyConfig.Update(yarpRoutes, clusters);
        if (json is not null)
        {
            Directory.CreateDirectory(options.DataDir);
            AtomicFile.Write(SavedPath, json);
        }
        Log.SnapshotApplied(logger, snapshot.Version, source, routes.KnownHosts.Count(), clusters.Count,
            snapshot.Instances.Count(i => i.Health == HealthStatus.Healthy));
    }

    /// <summary>Applies the snapshot saved by an earlier run, if there is one; returns its version or 0.</summary>
    public long ApplySaved()
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
            Apply(snapshot, "disk", json: null);
            return snapshot.Version;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or ArgumentException or FormatException)
        {
            Log.SavedSnapshotUnreadable(logger, SavedPath, e.Message);
            return 0;
        }
    }
}
