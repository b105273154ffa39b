namespace Mesh.Core.Routing;

/// <summary>
/// Service host names. Inside the mesh "reviews", "reviews.prod" and "reviews.prod.svc.cluster.local"
/// name the same service; the canonical key is "name.namespace". A name with three or more labels
/// that is not under ".svc.cluster.local" is an external host (a ServiceEntry) and stays as written.
/// </summary>
public static class HostName
{
    public const string ClusterSuffix = ".svc.cluster.local";

    /// <summary>The canonical key of a host written in a resource of the given namespace.</summary>
    public static string Canonical(string host, string defaultNamespace)
    {
        var h = StripPort(host).TrimEnd('.').ToLowerInvariant();
        if (h.EndsWith(ClusterSuffix, StringComparison.Ordinal))
        {
            h = h[..^ClusterSuffix.Length];
        }
        else if (h.EndsWith(".svc", StringComparison.Ordinal))
        {
            h = h[..^4];
        }
        return h.Contains('.') ? h : $"{h}.{defaultNamespace}";
    }

    /// <summary>Every name a caller in <paramref name="callerNamespace"/> may use for the service.</summary>
    public static IEnumerable<string> Aliases(string canonical, string callerNamespace)
    {
        var dot = canonical.IndexOf('.');
        if (dot < 0 || canonical.IndexOf('.', dot + 1) >= 0)
        {
            yield return canonical; // external host: only as written
            yield break;
        }
        if (canonical[(dot + 1)..] == callerNamespace)
        {
            yield return canonical[..dot];
        }
        yield return canonical;
        yield return canonical + ".svc";
        yield return canonical + ClusterSuffix;
    }

    public static string StripPort(string host)
    {
        if (host.StartsWith('['))
        {
            var end = host.IndexOf(']');
            return end > 0 ? host[..(end + 1)] : host;
        }
        var colon = host.LastIndexOf(':');
        return colon >= 0 && host.IndexOf(':') == colon ? host[..colon] : host;
    }

    public static bool IsValid(string host)
    {
        var h = host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
        return h.Length is > 0 and <= 253 && h.Split('.').All(label =>
            label.Length is > 0 and <= 63 && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')
            && label[0] != '-' && label[^1] != '-');
    }
}
