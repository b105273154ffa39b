using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Routing.Tcp;

/// <summary>
/// The compiled TCP and TLS-passthrough routing of one snapshot as one sidecar sees it (its namespace and
/// labels judge <c>sourceLabels</c> / <c>sourceNamespace</c> here, once, as for HTTP). Immutable; each new
/// connection reads it once. Built apart from the HTTP <see cref="RouteTable"/>: YARP never sees TCP.
/// </summary>
public sealed class TcpRouteTable
{
    private static readonly string[] TlsProtocols = ["TLS", "HTTPS"];

    /// <summary>The tcp rules of the first mesh-bound VirtualService naming a host, by canonical host.</summary>
    private readonly Dictionary<string, TcpRule[]> _tcp;
    private readonly TcpRule[] _tls;
    private readonly Func<string, string?, int, TcpCluster> _cluster;
    private readonly (string Pattern, string Host, int[] Ports)[] _tlsEntries;

    private TcpRouteTable(long version, Dictionary<string, TcpRule[]> tcp, TcpRule[] tls, Func<string, string?, int, TcpCluster> cluster, (string, string, int[])[] tlsEntries)
    {
        Version = version;
        _tcp = tcp;
        _tls = tls;
        _cluster = cluster;
        _tlsEntries = tlsEntries;
    }

    public long Version { get; }

    /// <summary>The rule a connection to <paramref name="port"/> of <paramref name="host"/> (canonical) takes: its
    /// VirtualService's first tcp rule that matches, or, with no tcp rules, the host itself; null when the host has
    /// tcp rules and none matches.</summary>
    public TcpRule? Route(string host, int port)
    {
        if (_tcp.TryGetValue(host, out var rules))
        {
            return rules.FirstOrDefault(r => r.Matches(port, null));
        }
        return new TcpRule($"{host} (no tcp rules)", [], [new TcpTarget(host, null, null, 100)]);
    }

    /// <summary>The rule a TLS connection with this SNI takes: the first tls rule (config order) that matches it,
    /// else a ServiceEntry host with a TLS/HTTPS port <paramref name="port"/> that the name matches; null when none.</summary>
    public TcpRule? RouteTls(string sni, int port)
    {
        if (_tls.FirstOrDefault(r => r.Matches(port, sni)) is { } rule)
        {
            return rule;
        }
        foreach (var (pattern, host, ports) in _tlsEntries)
        {
            if (ports.Contains(port) && TcpRule.SniMatches(pattern, sni))
            {
                // A wildcard entry's endpoints are its STATIC ones; the SNI names which service it is.
                return new TcpRule($"ServiceEntry host {pattern}", [], [new TcpTarget(host, null, null, 100)]);
            }
        }
        return null;
    }

    public static TcpRouteTable Build(MeshSnapshot snapshot, string callerNamespace, IReadOnlyDictionary<string, string> callerLabels)
    {
        var config = snapshot.Config;
        var rulesByHost = RouteTable.DestinationRulesByHost(config);
        var entries = new Dictionary<string, Resource<ServiceEntry>>(StringComparer.Ordinal);
        foreach (var se in config.ServiceEntries)
        {
            foreach (var written in se.Spec.Hosts)
            {
                entries.TryAdd(HostName.Canonical(written, se.Metadata.Namespace), se);
            }
        }
        var instances = snapshot.Instances.GroupBy(i => i.Host).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        var clusters = new Dictionary<string, TcpCluster>(StringComparer.Ordinal);

        TcpCluster ClusterFor(string host, string? subset, int port)
        {
            var id = TcpCluster.IdFor(host, subset, port);
            lock (clusters)
            {
                if (clusters.TryGetValue(id, out var known))
                {
                    return known;
                }
                rulesByHost.TryGetValue(host, out var dr);
                var subsetSpec = subset is null ? null : dr?.Spec.Subsets.FirstOrDefault(s => s.Name == subset);
                var policy = RouteTable.Merge(dr?.Spec.TrafficPolicy, subsetSpec?.TrafficPolicy);
                var endpoints = entries.TryGetValue(host, out var se)
                    ? EntryEndpoints(se, host, port)
                    : (instances.GetValueOrDefault(host) ?? [])
                        .Where(i => i.Health == HealthStatus.Healthy && i.HasSidecar && i.TcpPorts.Any(p => p.Number == port))
                        .Select(i => (Instance: i, Endpoint: new TcpEndpoint(i.InstanceId, i.Address, i.Port, ViaSidecar: true, port)))
                        .ToArray();
                var chosen = endpoints
                    .Where(e => subsetSpec is null || subsetSpec.Labels.All(l => e.Instance.Labels.TryGetValue(l.Key, out var v) && v == l.Value))
                    .Select(e => e.Endpoint)
                    .ToArray();
                var timeout = policy?.ConnectionPool?.Tcp?.ConnectTimeout is { } t && t > TimeSpan.Zero ? t : TcpCluster.DefaultConnectTimeout;
                var identity = host.Split('.') is [var service, var ns] ? $"{ns}/{service}" : "";
                return clusters[id] = new TcpCluster(id, host, subset, port, chosen, timeout, identity);
            }
        }

        var tcp = new Dictionary<string, TcpRule[]>(StringComparer.Ordinal);
        var tls = new List<TcpRule>();
        foreach (var vs in config.VirtualServices.Where(GatewayBinding.BindsMesh))
        {
            var ns = vs.Metadata.Namespace;
            bool ForMe(IReadOnlyDictionary<string, string> labels, string? sourceNamespace) =>
                (sourceNamespace is null || sourceNamespace == callerNamespace) && labels.All(l => callerLabels.TryGetValue(l.Key, out var v) && v == l.Value);

            var tcpRules = new List<TcpRule>();
            for (var r = 0; r < vs.Spec.Tcp.Count; r++)
            {
                var rule = vs.Spec.Tcp[r];
                var blocks = rule.Match.Where(m => ForMe(m.SourceLabels, m.SourceNamespace)).Select(m => (m.Port, Array.Empty<string>())).ToArray();
                // Blocks naming other callers do not exist for this one; a rule left with none does not either.
                if (rule.Match.Count > 0 && blocks.Length == 0)
                {
                    continue;
                }
                tcpRules.Add(new TcpRule($"{ns}/{vs.Metadata.Name} tcp[{r}]", blocks, Targets(rule.Route, ns)));
            }
            if (tcpRules.Count > 0)
            {
                foreach (var written in vs.Spec.Hosts)
                {
                    tcp.TryAdd(HostName.Canonical(written, ns), tcpRules.ToArray());
                }
            }
            for (var r = 0; r < vs.Spec.Tls.Count; r++)
            {
                var rule = vs.Spec.Tls[r];
                var blocks = rule.Match.Where(m => ForMe(m.SourceLabels, m.SourceNamespace)).Select(m => (m.Port, m.SniHosts.ToArray())).ToArray();
                if (rule.Match.Count > 0 && blocks.Length == 0)
                {
                    continue;
                }
                tls.Add(new TcpRule($"{ns}/{vs.Metadata.Name} tls[{r}]", blocks, Targets(rule.Route, ns)));
            }
        }
        var tlsEntries = config.ServiceEntries
            .SelectMany(se => se.Spec.Hosts.Select(h => (Pattern: h, Host: HostName.Canonical(h, se.Metadata.Namespace),
                Ports: se.Spec.Ports.Where(p => TlsProtocols.Contains(p.Protocol?.ToUpperInvariant())).Select(p => p.Number).ToArray())))
            .Where(e => e.Ports.Length > 0)
            .ToArray();
        return new TcpRouteTable(snapshot.Version, tcp, tls.ToArray(), ClusterFor, tlsEntries);
    }

    private static TcpTarget[] Targets(IReadOnlyList<RouteDestination> route, string ns) =>
        route.Where(r => r.Destination is not null)
            .Select(r => new TcpTarget(HostName.Canonical(r.Destination!.Host, ns), r.Destination.Subset, r.Destination.Port?.Number, r.Weight ?? (route.Count == 1 ? 100 : 0)))
            .ToArray();

    /// <summary>The endpoints a target leads to for a connection made to <paramref name="port"/>.</summary>
    public TcpCluster Resolve(TcpTarget target, int port) => _cluster(target.Host, target.Subset, target.Port ?? port);

    private static (ServiceInstance Instance, TcpEndpoint Endpoint)[] EntryEndpoints(Resource<ServiceEntry> se, string host, int port)
    {
        var spec = se.Spec;
        if (spec.Ports.FirstOrDefault(p => p.Number == port) is not { } servicePort)
        {
            return [];
        }
        var written = spec.Hosts.FirstOrDefault(h => HostName.Canonical(h, se.Metadata.Namespace) == host) ?? host;
        var list = spec.Endpoints.Count == 0 && !written.StartsWith('*') ? [new WorkloadEntry { Address = HostName.StripPort(written) }] : spec.Endpoints;
        return list.Select(e =>
        {
            var number = e.Ports.TryGetValue(servicePort.Name, out var p) ? p : servicePort.TargetPort ?? servicePort.Number;
            var id = $"{se.Metadata.Namespace}/{se.Metadata.Name}/{e.Address}:{number}";
            var instance = new ServiceInstance { InstanceId = id, Service = host, Address = e.Address, Port = number, Labels = e.Labels, Health = HealthStatus.Healthy };
            return (instance, new TcpEndpoint(id, e.Address, number, ViaSidecar: false, port));
        }).ToArray();
    }
}
