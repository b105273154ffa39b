using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Routing;

/// <summary>
/// The compiled, immutable routing state of one snapshot as seen by a sidecar in one namespace: which
/// host names it knows, the ordered rules of each, and the clusters (host or subset) with endpoints.
/// Built once per snapshot; the request path only reads it.
/// </summary>
public sealed class RouteTable
{
    private readonly Dictionary<string, HostRoutes> _byName;

    private RouteTable(Dictionary<string, HostRoutes> byName, IReadOnlyList<ClusterDefinition> clusters, long version)
    {
        _byName = byName;
        Clusters = clusters;
        Version = version;
    }

    public static RouteTable Empty { get; } = new(new(StringComparer.OrdinalIgnoreCase), [], 0);

    public long Version { get; }
    public IReadOnlyList<ClusterDefinition> Clusters { get; }

    /// <summary>Canonical hosts that can be called, sorted.</summary>
    public IEnumerable<string> KnownHosts => _byName.Values.Select(h => h.Host).Distinct().Order(StringComparer.Ordinal);

    /// <summary>Every name a caller may use, with the routes it leads to.</summary>
    public IEnumerable<KeyValuePair<string, HostRoutes>> Names => _byName;

    public bool TryGetHost(string name, out HostRoutes routes) => _byName.TryGetValue(name, out routes!);

    public static RouteTable Build(MeshSnapshot snapshot, string callerNamespace)
    {
        var config = snapshot.Config;
        var rulesByDestination = DestinationRulesByHost(config);
        var clusters = new Dictionary<string, ClusterDefinition>(StringComparer.Ordinal);
        var instancesByHost = snapshot.Instances.GroupBy(i => i.Host).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);

        ClusterDefinition ClusterFor(string host, string? subset)
        {
            var id = ClusterDefinition.IdFor(host, subset);
            if (!clusters.TryGetValue(id, out var cluster))
            {
                rulesByDestination.TryGetValue(host, out var dr);
                var endpoints = instancesByHost.GetValueOrDefault(host) ?? [];
                var subsetSpec = subset is null ? null : dr?.Spec.Subsets.FirstOrDefault(s => s.Name == subset);
                if (subsetSpec is not null)
                {
                    endpoints = endpoints.Where(e => subsetSpec.Labels.All(l => e.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToArray();
                }
                var lb = subsetSpec?.TrafficPolicy?.LoadBalancer?.Simple ?? dr?.Spec.TrafficPolicy?.LoadBalancer?.Simple ?? SimpleLoadBalancer.Unspecified;
                cluster = new ClusterDefinition(id, host, subset, endpoints, lb);
                clusters[id] = cluster;
            }
            return cluster;
        }

        var hosts = new Dictionary<string, HostRoutes>(StringComparer.Ordinal);
        foreach (var host in instancesByHost.Keys)
        {
            var cluster = ClusterFor(host, null);
            hosts[host] = new HostRoutes(host, [new RouteRule(null, [], [new WeightedDestination(cluster.Id, host, null, 100)])], fromVirtualService: false);
        }
        // The first VirtualService for a host wins, as Istio does for sidecars.
        foreach (var vs in config.VirtualServices)
        {
            var rules = vs.Spec.Http.Select(rule => Compile(rule, vs.Metadata.Namespace, ClusterFor)).ToArray();
            foreach (var written in vs.Spec.Hosts)
            {
                var host = HostName.Canonical(written, vs.Metadata.Namespace);
                if (!hosts.TryGetValue(host, out var existing) || !existing.FromVirtualService)
                {
                    hosts[host] = new HostRoutes(host, rules, fromVirtualService: true);
                }
            }
        }

        var byName = new Dictionary<string, HostRoutes>(StringComparer.OrdinalIgnoreCase);
        foreach (var routes in hosts.Values)
        {
            foreach (var alias in HostName.Aliases(routes.Host, callerNamespace))
            {
                byName.TryAdd(alias, routes);
            }
        }
        return new RouteTable(byName, clusters.Values.OrderBy(c => c.Id, StringComparer.Ordinal).ToArray(), snapshot.Version);
    }

    private static RouteRule Compile(HttpRoute rule, string ns, Func<string, string?, ClusterDefinition> clusterFor)
    {
        var destinations = rule.Route
            .Where(r => r.Destination is not null)
            .Select(r =>
            {
                var host = HostName.Canonical(r.Destination!.Host, ns);
                var cluster = clusterFor(host, r.Destination.Subset);
                return new WeightedDestination(cluster.Id, host, r.Destination.Subset, r.Weight ?? (rule.Route.Count == 1 ? 100 : 0));
            })
            .ToArray();
        return new RouteRule(rule.Name, rule.Match.Select(m => new RequestMatcher(m)).ToArray(), destinations, rule.Timeout, rule.Retries);
    }

    private static Dictionary<string, Resource<DestinationRule>> DestinationRulesByHost(ConfigSet config)
    {
        var byHost = new Dictionary<string, Resource<DestinationRule>>(StringComparer.Ordinal);
        foreach (var dr in config.DestinationRules)
        {
            byHost.TryAdd(HostName.Canonical(dr.Spec.Host, dr.Metadata.Namespace), dr);
        }
        return byHost;
    }
}
