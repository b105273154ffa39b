namespace Mesh.Core.Routing.Tcp;

/// <summary>
/// Where a TCP connection to one port of a host (or subset) can go. A mesh endpoint is its sidecar's
/// inbound port, reached over mutual TLS naming <see cref="TcpEndpoint.ServicePort"/> by ALPN; a
/// ServiceEntry endpoint is reached directly (its address may be a DNS name, resolved at connect).
/// </summary>
public sealed record TcpEndpoint(string InstanceId, string Address, int Port, bool ViaSidecar, int ServicePort);

/// <param name="Identity">"namespace/service" the endpoint's sidecar must prove (mesh services only).</param>
public sealed record TcpCluster(string Id, string Host, string? Subset, int Port, IReadOnlyList<TcpEndpoint> Endpoints, TimeSpan ConnectTimeout, string Identity)
{
    /// <summary>Istio's (Envoy's) connect timeout when connectionPool.tcp.connectTimeout is not set.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    public static string IdFor(string host, string? subset, int port) => $"{ClusterIdOf(host, subset)}:{port}";

    private static string ClusterIdOf(string host, string? subset) => subset is null ? host : $"{host}|{subset}";
}

/// <summary>One weighted destination of a rule; without <paramref name="Port"/> the connection keeps the port it was made to.</summary>
public sealed record TcpTarget(string Host, string? Subset, int? Port, int Weight);

/// <summary>
/// A compiled tcp or tls rule: the ports (and, for tls, server names) it matches, each block OR'ed, and
/// its weighted destinations. No blocks: every connection matches.
/// </summary>
public sealed class TcpRule(string source, IReadOnlyList<(int? Port, string[] SniHosts)> blocks, TcpTarget[] targets)
{
    /// <summary>"namespace/name tcp[i]", for logs.</summary>
    public string Source { get; } = source;

    public IReadOnlyList<TcpTarget> Targets => targets;

    public bool Matches(int port, string? sni)
    {
        if (blocks.Count == 0)
        {
            return true;
        }
        foreach (var (p, hosts) in blocks)
        {
            if ((p is null || p == port) && (hosts.Length == 0 || (sni is not null && hosts.Any(h => SniMatches(h, sni)))))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Weighted choice per connection; <paramref name="roll"/> is in [0, 1).</summary>
    public TcpTarget? Pick(double roll)
    {
        var total = targets.Sum(t => t.Weight);
        if (total <= 0)
        {
            return null;
        }
        var point = roll * total;
        foreach (var target in targets)
        {
            if (point < target.Weight)
            {
                return target;
            }
            point -= target.Weight;
        }
        return targets.Last(t => t.Weight > 0);
    }

    /// <summary>Exact, or <c>*.example.com</c> for any name ending in <c>.example.com</c> (Envoy's server_names).</summary>
    public static bool SniMatches(string pattern, string sni) =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? sni.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase) && sni.Length > pattern.Length - 1
            : string.Equals(pattern, sni, StringComparison.OrdinalIgnoreCase);
}
