using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace Mesh.Sidecar.Configuration;

/// <summary>
/// Feeds YARP the routes and clusters built from each applied snapshot, and tells when YARP has
/// applied them: YARP reloads on a change token, asynchronously, so a caller that swapped its own
/// route table before that moment could route to a cluster YARP did not hold yet (a config change
/// that answered 503 for a healthy subset). <see cref="SnapshotApplier"/> waits for this.
/// </summary>
internal sealed class MeshProxyConfigProvider : IProxyConfigProvider, IConfigChangeListener
{
    private volatile MeshProxyConfig _config = new([], []);

    public IProxyConfig GetConfig() => _config;

    /// <summary>Publishes new config to YARP; completes when YARP has applied it, or fails with YARP's reason.</summary>
    public Task UpdateAsync(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters)
    {
        var next = new MeshProxyConfig(routes, clusters);
        var previous = Interlocked.Exchange(ref _config, next);
        previous.SignalChange();
        return next.Applied.Task;
    }

    void IConfigChangeListener.ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
        foreach (var config in proxyConfigs)
        {
            (config as MeshProxyConfig)?.Applied.TrySetResult();
        }
    }

    void IConfigChangeListener.ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception)
    {
        foreach (var config in proxyConfigs)
        {
            (config as MeshProxyConfig)?.Applied.TrySetException(new InvalidOperationException($"the proxy refused the routes built from it: {exception.Message}", exception));
        }
    }

    void IConfigChangeListener.ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    void IConfigChangeListener.ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception)
    {
    }

    private sealed class MeshProxyConfig : IProxyConfig
    {
        private readonly CancellationTokenSource _changed = new();

        public MeshProxyConfig(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters)
        {
            Routes = routes;
            Clusters = clusters;
            ChangeToken = new CancellationChangeToken(_changed.Token);
        }

        public IReadOnlyList<RouteConfig> Routes { get; }
        public IReadOnlyList<ClusterConfig> Clusters { get; }
        public IChangeToken ChangeToken { get; }

        public TaskCompletionSource Applied { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void SignalChange() => _changed.Cancel();
    }
}
