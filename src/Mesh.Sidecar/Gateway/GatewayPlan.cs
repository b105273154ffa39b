using Mesh.Core.Routing;

namespace Mesh.Sidecar.Gateway;

/// <summary>
/// What the gateway serves, compiled from its Gateway resource once per config change: a listener per
/// port, each with its servers' hosts, redirect and TLS material. The request path and the TLS
/// handshake read it through one volatile reference (<see cref="GatewayListeners.Plan"/>).
/// </summary>
internal sealed class GatewayPlan(IReadOnlyDictionary<int, GatewayListener> byListenPort)
{
    public static GatewayPlan Empty { get; } = new(new Dictionary<int, GatewayListener>());

    public IEnumerable<GatewayListener> Listeners => byListenPort.Values.OrderBy(l => l.ListenPort);

    public bool TryGetListener(int listenPort, out GatewayListener listener) => byListenPort.TryGetValue(listenPort, out listener!);

    /// <summary>The public port of the HTTPS server for <paramref name="host"/>, where an HTTP server's httpsRedirect sends callers; 443 when none serves it.</summary>
    public int HttpsPortFor(string host) =>
        byListenPort.Values.Where(l => l.Https && l.ServerFor(host) is not null).Select(l => l.PublicPort).DefaultIfEmpty(443).Min();
}

/// <param name="PublicPort">The Gateway's <c>port.number</c>: what callers (and redirects) use.</param>
/// <param name="ListenPort">The port bound on this machine (the number, or mapped by <c>--gateway-port</c> / <c>--gateway-port-offset</c>).</param>
internal sealed record GatewayListener(int PublicPort, int ListenPort, bool Https, IReadOnlyList<GatewayServerPlan> Servers)
{
    /// <summary>The server for a host (the Host header, or the TLS client's SNI): an exact host first, then the longest wildcard, then '*'.</summary>
    public GatewayServerPlan? ServerFor(string host)
    {
        GatewayServerPlan? best = null;
        var bestScore = -1;
        foreach (var server in Servers)
        {
            foreach (var pattern in server.Hosts)
            {
                if (!GatewayBinding.HostMatches(pattern, host))
                {
                    continue;
                }
                var score = pattern == "*" ? 0 : pattern.StartsWith('*') ? pattern.Length : int.MaxValue;
                if (score > bestScore)
                {
                    (best, bestScore) = (server, score);
                }
            }
        }
        return best;
    }
}

/// <param name="Hosts">Host patterns without their namespace part (that only limits which VirtualServices bind).</param>
/// <param name="Tls">Null on an HTTP server; on an HTTPS server whose files could not be loaded, <see cref="GatewayTlsMaterial.Problem"/> says why.</param>
internal sealed record GatewayServerPlan(IReadOnlyList<string> Hosts, bool HttpsRedirect, GatewayTlsMaterial? Tls);
