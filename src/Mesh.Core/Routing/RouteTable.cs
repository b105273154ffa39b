using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Routing;

/// <summary>
/// The compiled, immutable routing state of one snapshot as seen by a sidecar in one namespace: which
/// host names it knows, the ordered rules of each, and the clusters (host or subset) with endpoints.
/// Built once per snapshot; the request path only reads it. A snapshot that changed only endpoints
/// (a delta keeps the config object) reuses the previous table's compiled rules, regexes included, and
/// rebuilds only the clusters.
/// </summary>
public sealed class RouteTable
{
    private readonly Dictionary<string, HostRoutes> _byName;
    private readonly Dictionary<string, ClusterDefinition> _clusters;

    /// <summary>What the rules were compiled from, and each VirtualService's compiled rules in config order.</summary>
    private readonly (ConfigSet Config, string Namespace, IReadOnlyDictionary<string, string> Labels, RouteRule[][] Rules)? _compiled;

    private RouteTable(Dictionary<string, HostRoutes> byName, Dictionary<string, ClusterDefinition> clusters, long version, (ConfigSet, string, IReadOnlyDictionary<string, string>, RouteRule[][])? compiled)
    {
        _byName = byName;
        _clusters = clusters;
        _compiled = compiled;
        Clusters = clusters.Values.OrderBy(c => c.Id, StringComparer.Ordinal).ToArray();
        Version = version;
    }

    public static RouteTable Empty { get; } = new(new(StringComparer.OrdinalIgnoreCase), new(StringComparer.Ordinal), 0, null);

    /// <summary>Whether this table's rules are the very ones <paramref name="other"/> compiled (for tests and the applier's log).</summary>
    public bool SharesRulesWith(RouteTable other) => _compiled is { } mine && other._compiled is { } theirs && ReferenceEquals(mine.Rules, theirs.Rules);

    public long Version { get; }
    public IReadOnlyList<ClusterDefinition> Clusters { get; }

    /// <summary>Canonical hosts that can be called, sorted.</summary>
    public IEnumerable<string> KnownHosts => _byName.Values.Select(h => h.Host).Distinct().Order(StringComparer.Ordinal);

    /// <summary>Every name a caller may use, with the routes it leads to.</summary>
    public IEnumerable<KeyValuePair<string, HostRoutes>> Names => _byName;

    public bool TryGetHost(string name, out HostRoutes routes) => _byName.TryGetValue(name, out routes!);

    public bool TryGetCluster(string id, out ClusterDefinition cluster) => _clusters.TryGetValue(id, out cluster!);

    /// <param name="previous">The table of the snapshot before, whose compiled rules are reused when <paramref name="snapshot"/> has the same config object.</param>
    /// <param name="gateway">
    /// Null for an ordinary sidecar (the reserved gateway <c>mesh</c>): every registered service and
    /// ServiceEntry host is callable, with the VirtualServices bound to <c>mesh</c>. A gateway's
    /// (namespace, name): only the hosts of the VirtualServices bound to that Gateway that one of its
    /// servers serves, as an Istio ingress gateway.
    /// </param>
    /// <param name="callerLabels">The calling sidecar's instance labels, for <c>sourceLabels</c> matches.</param>
    public static RouteTable Build(MeshSnapshot snapshot, string callerNamespace, RouteTable? previous = null, (string Namespace, string Name)? gateway = null,
        IReadOnlyDictionary<string, string>? callerLabels = null)
    {
        callerLabels ??= NoLabels;
        var config = snapshot.Config;
        var rulesByDestination = DestinationRulesByHost(config);
        var external = ServiceEntryEndpoints.ByHost(config, host => rulesByDestination.GetValueOrDefault(host)?.Spec.TrafficPolicy?.Tls?.Mode);
        var clusters = new Dictionary<string, ClusterDefinition>(StringComparer.Ordinal);
        var instancesByHost = snapshot.Instances.GroupBy(i => i.Host).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);

        ClusterDefinition ClusterFor(string host, string? subset)
        {
            var id = ClusterDefinition.IdFor(host, subset);
            if (!clusters.TryGetValue(id, out var cluster))
            {
                rulesByDestination.TryGetValue(host, out var dr);
                var isExternal = external.TryGetValue(host, out var entry);
                var endpoints = isExternal ? entry.Endpoints : instancesByHost.GetValueOrDefault(host) ?? [];
                var subsetSpec = subset is null ? null : dr?.Spec.Subsets.FirstOrDefault(s => s.Name == subset);
                if (subsetSpec is not null)
                {
                    endpoints = endpoints.Where(e => subsetSpec.Labels.All(l => e.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToArray();
                }
                var policy = Merge(dr?.Spec.TrafficPolicy, subsetSpec?.TrafficPolicy);
                cluster = new ClusterDefinition(id, host, subset, endpoints, policy?.LoadBalancer?.Simple ?? SimpleLoadBalancer.Unspecified)
                {
                    ConsistentHash = policy?.LoadBalancer?.ConsistentHash,
                    Locality = LocalityFor(policy),
                    ExternalScheme = isExternal ? entry.Scheme : null,
                    Policy = policy,
                };
                clusters[id] = cluster;
            }
            return cluster;
        }

        var hosts = new Dictionary<string, HostRoutes>(StringComparer.Ordinal);
        var gatewaySpec = gateway is { } g ? config.Gateways.FirstOrDefault(r => r.Metadata.Namespace == g.Namespace && r.Metadata.Name == g.Name) : null;
        // A gateway routes only what its VirtualServices name; callers outside the mesh never reach a service by its own name.
        foreach (var host in gateway is null ? instancesByHost.Keys.Concat(external.Keys) : [])
        {
            var cluster = ClusterFor(host, null);
            hosts[host] = new HostRoutes(host, [new RouteRule(null, [], [new WeightedDestination(cluster.Id, host, null, 100)])], fromVirtualService: false);
        }
        var compiled = previous?._compiled is { } known && ReferenceEquals(known.Config, config) && known.Namespace == callerNamespace && SameLabels(known.Labels, callerLabels)
            ? known.Rules
            : config.VirtualServices.Select(vs => vs.Spec.Http
                .Select(rule => ForCaller(rule, callerNamespace, callerLabels))
                .OfType<HttpRoute>()
                .Select(rule => Compile(rule, vs.Metadata.Namespace)).ToArray()).ToArray();
        // The first VirtualService for a host wins, as Istio does for sidecars.
        for (var i = 0; i < compiled.Length; i++)
        {
            var vs = config.VirtualServices[i];
            var bound = gateway is { } gw ? gatewaySpec is not null && GatewayBinding.BindsGateway(vs, gw.Namespace, gw.Name) : GatewayBinding.BindsMesh(vs);
            if (!bound)
            {
                continue;
            }
            var rules = compiled[i];
            foreach (var rule in rules)
            {
                foreach (var destination in rule.Destinations)
                {
                    ClusterFor(destination.Host, destination.Subset);
                }
                if (rule.Mirror is { } mirror)
                {
                    ClusterFor(mirror.Host, mirror.Subset);
                }
            }
            foreach (var written in vs.Spec.Hosts)
            {
                if (gatewaySpec is not null && !GatewayBinding.Serves(gatewaySpec, written, vs.Metadata.Namespace))
                {
                    continue;
                }
                var host = written == "*" ? "*" : HostName.Canonical(written, vs.Metadata.Namespace);
                if (!hosts.TryGetValue(host, out var existing) || !existing.FromVirtualService)
                {
                    hosts[host] = new HostRoutes(host, rules, fromVirtualService: true);
                }
            }
        }

        var byName = new Dictionary<string, HostRoutes>(StringComparer.OrdinalIgnoreCase);
        foreach (var routes in hosts.Values)
        {
            // A ServiceEntry host is called only by the name it was given.
            var aliases = external.ContainsKey(routes.Host) ? [routes.Host] : HostName.Aliases(routes.Host, callerNamespace);
            foreach (var alias in aliases)
            {
                byName.TryAdd(alias, routes);
            }
        }
        return new RouteTable(byName, clusters, snapshot.Version, (config, callerNamespace, callerLabels, compiled));
    }

    private static readonly IReadOnlyDictionary<string, string> NoLabels = new Dictionary<string, string>();

    /// <summary>
    /// The rule as this caller sees it: match blocks whose <c>sourceLabels</c> or <c>sourceNamespace</c> name
    /// other callers can never match here, so they are dropped where the table is built (as Istio drops them
    /// when it generates a sidecar's config), and a rule all of whose blocks were dropped does not exist for
    /// this caller. Null then. A rule without match blocks applies to every caller.
    /// </summary>
    private static HttpRoute? ForCaller(HttpRoute rule, string callerNamespace, IReadOnlyDictionary<string, string> callerLabels)
    {
        if (rule.Match.Count == 0 || rule.Match.All(m => m.SourceLabels.Count == 0 && m.SourceNamespace is null))
        {
            return rule;
        }
        var mine = rule.Match
            .Where(m => (m.SourceNamespace is null || m.SourceNamespace == callerNamespace)
                && m.SourceLabels.All(l => callerLabels.TryGetValue(l.Key, out var v) && v == l.Value))
            .ToArray();
        return mine.Length == 0 ? null : rule with { Match = mine };
    }

    private static bool SameLabels(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b) =>
        ReferenceEquals(a, b) || (a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value));

    /// <summary>A subset's policy fields replace the DestinationRule's, field by field.</summary>
    internal static TrafficPolicy? Merge(TrafficPolicy? host, TrafficPolicy? subset) =>
        subset is null ? host : host is null ? subset : new TrafficPolicy
        {
            LoadBalancer = subset.LoadBalancer ?? host.LoadBalancer,
            ConnectionPool = subset.ConnectionPool ?? host.ConnectionPool,
            OutlierDetection = subset.OutlierDetection ?? host.OutlierDetection,
            Tls = subset.Tls ?? host.Tls,
        };

    /// <summary>As in Istio, locality preference applies once the host has outlier detection (so unhealthy
    /// endpoints can be told apart) or asks for it with localityLbSetting; enabled: false turns it off.</summary>
    private static LocalityLbSetting? LocalityFor(TrafficPolicy? policy)
    {
        var setting = policy?.LoadBalancer?.LocalityLbSetting;
        if (setting?.Enabled == false)
        {
            return null;
        }
        return setting ?? (policy?.OutlierDetection is not null ? new LocalityLbSetting() : null);
    }

    /// <summary>A rule on its own: it names its clusters by id, so it holds nothing of the endpoints and outlives endpoint changes.</summary>
    private static RouteRule Compile(HttpRoute rule, string ns)
    {
        var destinations = rule.Route
            .Where(r => r.Destination is not null)
            .Select(r =>
            {
                var host = HostName.Canonical(r.Destination!.Host, ns);
                return new WeightedDestination(ClusterDefinition.IdFor(host, r.Destination.Subset), host, r.Destination.Subset, r.Weight ?? (rule.Route.Count == 1 ? 100 : 0))
                {
                    RequestHeaders = HeaderEdits.From(r.Headers?.Request),
                    ResponseHeaders = HeaderEdits.From(r.Headers?.Response),
                };
            })
            .ToArray();
        MirrorAction? mirror = null;
        if (rule.Mirror is { } m)
        {
            var host = HostName.Canonical(m.Host, ns);
            mirror = new MirrorAction(ClusterDefinition.IdFor(host, m.Subset), host, m.Subset, rule.MirrorPercentage?.Value ?? 100);
        }
        return new RouteRule(rule.Name, rule.Match.Select(match => new RequestMatcher(match)).ToArray(), destinations)
        {
            RetryPolicy = Mesh.Core.Resilience.RetryPolicy.For(rule.Retries),
            Timeout = rule.Timeout is { } t && t > TimeSpan.Zero ? t : null,
            Retries = rule.Retries,
            Redirect = rule.Redirect is { } r
                ? new RedirectAction(r.Uri, r.Authority, r.Port, r.Scheme, r.RedirectCode ?? 301)
                : null,
            DirectResponse = rule.DirectResponse is { } d
                ? new DirectResponseAction(d.Status, d.Body?.Bytes is { } b ? Convert.FromBase64String(b) : System.Text.Encoding.UTF8.GetBytes(d.Body?.String ?? ""), d.Body?.Bytes is null)
                : null,
            Rewrite = rule.Rewrite is { } w ? new RewriteAction(w.Uri, w.Authority) : null,
            Fault = FaultAction.From(rule.Fault),
            Mirror = mirror,
            RequestHeaders = HeaderEdits.From(rule.Headers?.Request),
            ResponseHeaders = HeaderEdits.From(rule.Headers?.Response),
        };
    }

    internal static Dictionary<string, Resource<DestinationRule>> DestinationRulesByHost(ConfigSet config)
    {
        var byHost = new Dictionary<string, Resource<DestinationRule>>(StringComparer.Ordinal);
        foreach (var dr in config.DestinationRules)
        {
            byHost.TryAdd(HostName.Canonical(dr.Spec.Host, dr.Metadata.Namespace), dr);
        }
        return byHost;
    }
}
