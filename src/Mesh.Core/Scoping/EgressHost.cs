using Mesh.Core.Routing;

namespace Mesh.Core.Scoping;

/// <summary>
/// One <c>egress[].hosts</c> entry of a Sidecar, <c>namespace/dnsName</c>, with its namespace part resolved:
/// <c>*</c> any namespace, <c>.</c> the Sidecar's config namespace (for the root namespace's default, the
/// workload's own), <c>~</c> none, or a name. The dnsName is <c>*</c>, <c>*.suffix</c> or a host, compared
/// in Mesh's canonical form (<c>reviews.default.svc.cluster.local</c> is <c>reviews.default</c>).
/// </summary>
public sealed record EgressHost(string? Namespace, bool NoNamespace, string Dns)
{
    /// <summary>Parses an entry; null and a reason when it is not of Istio's form.</summary>
    public static (EgressHost? Host, string? Error) Parse(string written, string configNamespace)
    {
        var slash = written.IndexOf('/');
        if (slash < 0)
        {
            return (null, $"'{written}' must be namespace/dnsName, e.g. './*', '*/{written}' or 'istio-system/*'");
        }
        var (ns, dns) = (written[..slash], written[(slash + 1)..]);
        if (ns.Length == 0 || dns.Length == 0)
        {
            return (null, $"'{written}': both the namespace and the dnsName are needed (namespace/dnsName)");
        }
        if (ns == "~")
        {
            return dns == "*" ? (new EgressHost(null, true, "*"), null) : (null, $"'{written}': '~' selects no namespace and takes only '~/*'");
        }
        if (ns != "*" && ns != "." && (!HostName.IsValid(ns) || ns.Contains('.') || ns.StartsWith("*", StringComparison.Ordinal)))
        {
            return (null, $"'{written}': the namespace must be '*', '.', '~' or a namespace name");
        }
        if (dns != "*" && !HostName.IsValid(dns))
        {
            return (null, $"'{written}': the dnsName must be '*', '*.example.com' or a host name");
        }
        var resolvedNs = ns switch { "*" => null, "." => configNamespace, _ => ns };
        if (dns == "*")
        {
            return (new EgressHost(resolvedNs, false, "*"), null);
        }
        if (!dns.Contains('.') && resolvedNs is null)
        {
            return (null, $"'{written}': with namespace '*' give the full name ({dns}.<namespace>.svc.cluster.local)");
        }
        var wildcard = dns.StartsWith("*.", StringComparison.Ordinal);
        var rest = wildcard ? dns[2..] : dns;
        // "*.svc.cluster.local" is every service of the mesh: as "*" for the namespace given.
        if (wildcard && rest is "svc.cluster.local" or "svc")
        {
            return (new EgressHost(resolvedNs, false, "*"), null);
        }
        var canonical = HostName.Canonical(rest, resolvedNs ?? "");
        return (new EgressHost(resolvedNs, false, wildcard ? "*." + canonical : canonical), null);
    }

    /// <summary>Whether a host of the given namespace (of its service or of the resource defining it) is selected.</summary>
    public bool Selects(string hostNamespace, string canonicalHost)
    {
        if (NoNamespace || (Namespace is not null && Namespace != hostNamespace))
        {
            return false;
        }
        return Dns == "*"
            || Dns == canonicalHost
            || (Dns.StartsWith("*.", StringComparison.Ordinal) && canonicalHost.EndsWith(Dns[1..], StringComparison.Ordinal));
    }

    public override string ToString() => NoNamespace ? "~/*" : $"{Namespace ?? "*"}/{Dns}";
}
