using Mesh.Core.Config.Model;

namespace Mesh.Core.Routing;

/// <summary>
/// Which VirtualServices a routing context uses, and the host patterns of Gateway servers. The context
/// of an ordinary sidecar is the reserved gateway <c>mesh</c>; a gateway's is its Gateway resource.
/// </summary>
public static class GatewayBinding
{
    /// <summary>Whether <paramref name="vs"/> applies to ordinary sidecars: no <c>gateways</c> (Istio's default) or <c>mesh</c> among them.</summary>
    public static bool BindsMesh(Resource<VirtualService> vs) =>
        vs.Spec.Gateways.Count == 0 || vs.Spec.Gateways.Contains(VirtualService.MeshGateway, StringComparer.Ordinal);

    /// <summary>Whether <paramref name="vs"/> names the Gateway <paramref name="ns"/>/<paramref name="name"/> (a bare name means the VirtualService's namespace).</summary>
    public static bool BindsGateway(Resource<VirtualService> vs, string ns, string name) =>
        vs.Spec.Gateways.Any(g => Reference(g, vs.Metadata.Namespace) == (ns, name));

    /// <summary>Whether some server of <paramref name="gateway"/> serves <paramref name="host"/> for VirtualServices of <paramref name="vsNamespace"/>.</summary>
    public static bool Serves(Resource<Gateway> gateway, string host, string vsNamespace) =>
        gateway.Spec.Servers.SelectMany(s => s.Hosts).Any(written =>
        {
            var (ns, pattern) = ServerHost(written, gateway.Metadata.Namespace);
            return (ns is null || ns == vsNamespace) && Overlap(pattern, host);
        });

    /// <summary>A <c>gateways</c> entry as (namespace, name).</summary>
    public static (string Namespace, string Name) Reference(string entry, string defaultNamespace)
    {
        var slash = entry.IndexOf('/');
        return slash < 0 ? (defaultNamespace, entry) : (entry[..slash], entry[(slash + 1)..]);
    }

    /// <summary>A server host <c>[namespace/]host</c> as (namespace filter or null for any, host pattern).</summary>
    public static (string? Namespace, string Host) ServerHost(string written, string gatewayNamespace)
    {
        var slash = written.IndexOf('/');
        if (slash < 0)
        {
            return (null, written);
        }
        var ns = written[..slash];
        return (ns switch { "*" => null, "." => gatewayNamespace, _ => ns }, written[(slash + 1)..]);
    }

    /// <summary>Whether a host pattern (<c>*</c>, <c>*.example.com</c> or a name) covers <paramref name="host"/>; both are compared without case.</summary>
    public static bool HostMatches(string pattern, string host)
    {
        if (pattern == "*")
        {
            return true;
        }
        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return host.Length > pattern.Length - 1 && host.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase);
        }
        return string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Whether two host patterns can match a common host (a VirtualService host against a server's).</summary>
    public static bool Overlap(string a, string b) => HostMatches(a, b) || HostMatches(b, a) || (a.StartsWith("*.", StringComparison.Ordinal) && b.StartsWith("*.", StringComparison.Ordinal)
        && (a.EndsWith(b[1..], StringComparison.OrdinalIgnoreCase) || b.EndsWith(a[1..], StringComparison.OrdinalIgnoreCase)));
}
