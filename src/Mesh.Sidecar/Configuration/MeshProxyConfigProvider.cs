using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace Mesh.Sidecar.Configuration;

/// <summary>Feeds YARP the routes and clusters built from each applied snapshot.</summary>
internal sealed class MeshProxyConfigProvider : IProxyConfigProvider
{
    private volatile MeshProxyConfig _config = new([], []);

    public IProxyConfig GetConfig() => _config;

    public void Update(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters)
    {
        var previous = _config;
        _config = new MeshProxyConfig(routes, clusters);
        previous.SignalChange();
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

        public void SignalChange() => _changed.Cancel();
    }
}
