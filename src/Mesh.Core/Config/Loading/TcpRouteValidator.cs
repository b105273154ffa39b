using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

/// <summary>
/// Checks a VirtualService's <c>tcp</c> and <c>tls</c> rules: ports, callers, weighted destinations, and that
/// each destination port is one its host serves as TCP (or, for tls, as TLS) when a ServiceEntry defines it.
/// </summary>
internal static class TcpRouteValidator
{
    /// <summary>Istio's protocols Mesh carries as opaque TCP bytes.</summary>
    internal static readonly string[] OpaqueProtocols = ["TCP", "MONGO", "MYSQL", "REDIS"];

    internal static readonly string[] TlsProtocols = ["TLS", "HTTPS"];

    public static void Validate(ResourceProblems<VirtualService> p, Dictionary<string, HashSet<string>> subsets, ConfigValidator.HostIndex hosts, bool mesh)
    {
        var spec = p.Resource.Spec;
        if (!mesh && (spec.Tcp.Count > 0 || spec.Tls.Count > 0))
        {
            p.Error(spec.Tcp.Count > 0 ? "spec.tcp" : "spec.tls", "tcp and tls rules are served by sidecars only: bind this VirtualService to 'mesh' (the Mesh gateway routes HTTP)");
        }
        for (var r = 0; r < spec.Tcp.Count; r++)
        {
            var rule = spec.Tcp[r];
            var path = $"spec.tcp[{r}]";
            for (var m = 0; m < rule.Match.Count; m++)
            {
                var match = rule.Match[m];
                ValidateCaller(p, match.Port, match.SourceLabels, match.SourceNamespace, $"{path}.match[{m}]");
            }
            if (rule.Match.Count == 0 && r < spec.Tcp.Count - 1)
            {
                p.Warning(path, "this tcp rule has no match, so it takes every connection and the tcp rules after it are never used");
            }
            ValidateRoute(p, rule.Route, path, rule.Match.Select(m => m.Port).ToArray(), OpaqueProtocols, subsets, hosts);
        }
        var vsHosts = spec.Hosts.Where(HostName.IsValid).ToArray();
        for (var r = 0; r < spec.Tls.Count; r++)
        {
            var rule = spec.Tls[r];
            var path = $"spec.tls[{r}]";
            if (rule.Match.Count == 0)
            {
                p.Error(path, "a tls rule needs match with sniHosts: the connection is routed by the server name of its TLS handshake");
            }
            for (var m = 0; m < rule.Match.Count; m++)
            {
                var match = rule.Match[m];
                var matchPath = $"{path}.match[{m}]";
                ValidateCaller(p, match.Port, match.SourceLabels, match.SourceNamespace, matchPath);
                if (match.SniHosts.Count == 0)
                {
                    p.Error(matchPath, "a tls match needs sniHosts");
                }
                for (var s = 0; s < match.SniHosts.Count; s++)
                {
                    var sni = match.SniHosts[s];
                    if (!HostName.IsValid(sni) || sni.Contains(':'))
                    {
                        p.Error($"{matchPath}.sniHosts[{s}]", $"'{sni}' is not a server name (a DNS name, '*.' allowed in front)");
                    }
                    // As Istio: a tls rule can only narrow the VirtualService's own hosts.
                    else if (!vsHosts.Any(h => string.Equals(h, sni, StringComparison.OrdinalIgnoreCase) || (h.StartsWith("*.", StringComparison.Ordinal) && Routing.Tcp.TcpRule.SniMatches(h, sni))))
                    {
                        p.Error($"{matchPath}.sniHosts[{s}]", $"sni host '{sni}' is not one of this VirtualService's hosts ({string.Join(", ", spec.Hosts)})");
                    }
                }
            }
            ValidateRoute(p, rule.Route, path, rule.Match.Select(m => m.Port).ToArray(), TlsProtocols, subsets, hosts);
        }
    }

    private static void ValidateCaller(ResourceProblems<VirtualService> p, int? port, IReadOnlyDictionary<string, string> labels, string? ns, string path)
    {
        p.Range($"{path}.port", "port", port, 1, 65535);
        if (ns is not null && (!HostName.IsValid(ns) || ns.Contains('.')))
        {
            p.Error($"{path}.sourceNamespace", $"'{ns}' is not a namespace (a DNS label)");
        }
        if (labels.Any(l => l.Key.Length == 0 || l.Value is null))
        {
            p.Error($"{path}.sourceLabels", "sourceLabels needs label keys with string values, e.g. {version: v2}");
        }
    }

    private static void ValidateRoute(ResourceProblems<VirtualService> p, IReadOnlyList<RouteDestination> route, string path, int?[] matchPorts,
        string[] protocols, Dictionary<string, HashSet<string>> subsets, ConfigValidator.HostIndex hosts)
    {
        if (route.Count == 0)
        {
            p.Error(path, "a tcp or tls rule needs route (weighted destinations)");
            return;
        }
        var weightSum = 0;
        for (var d = 0; d < route.Count; d++)
        {
            var destinationPath = $"{path}.route[{d}]";
            var weight = route[d].Weight ?? (route.Count == 1 ? 100 : 0);
            p.Range($"{destinationPath}.weight", "weight", weight, 0, 100);
            weightSum += weight;
            if (route[d].Destination is not { } destination)
            {
                p.Error(destinationPath, "a route needs destination.host");
                continue;
            }
            if (VirtualServiceValidator.ValidateDestination(p, destination, $"{destinationPath}.destination", subsets, hosts) is { } host)
            {
                ValidatePort(p, destination, host, $"{destinationPath}.destination", matchPorts, protocols, hosts);
            }
        }
        if (route.Count > 1 && weightSum != 100)
        {
            p.Error($"{path}.route", $"route weights sum to {weightSum}; they must sum to 100");
        }
    }

    /// <summary>The destination's port (its own, or each port the rule matches) must be one its ServiceEntry serves with a fitting protocol.</summary>
    private static void ValidatePort(ResourceProblems<VirtualService> p, Destination destination, string host, string path, int?[] matchPorts,
        string[] protocols, ConfigValidator.HostIndex hosts)
    {
        var entry = hosts.ServiceEntryFor(host);
        var tls = protocols == TlsProtocols;
        if (entry is null)
        {
            if (tls)
            {
                p.Error($"{path}.host", $"TLS passthrough goes to a ServiceEntry host with a TLS or HTTPS port; '{destination.Host}' is not one (mesh services take mutual TLS from their sidecars: route them with tcp)");
            }
            return;
        }
        var ports = destination.Port?.Number is { } own ? [own] : matchPorts.OfType<int>().Distinct().ToArray();
        foreach (var port in ports)
        {
            var servicePort = entry.Spec.Ports.FirstOrDefault(x => x.Number == port);
            var protocol = servicePort?.Protocol?.ToUpperInvariant() ?? "HTTP";
            if (servicePort is null)
            {
                p.Error(destination.Port is null ? path : $"{path}.port.number", $"ServiceEntry '{entry.Metadata.Name}' of '{destination.Host}' has no port {port} (its ports: {string.Join(", ", entry.Spec.Ports.Select(x => $"{x.Number}/{x.Protocol ?? "HTTP"}"))})");
            }
            else if (!protocols.Contains(protocol))
            {
                p.Error(destination.Port is null ? path : $"{path}.port.number", $"port {port} of '{destination.Host}' is {protocol}; a {(tls ? "tls" : "tcp")} rule needs a {string.Join(", ", protocols)} port");
            }
        }
    }
}
