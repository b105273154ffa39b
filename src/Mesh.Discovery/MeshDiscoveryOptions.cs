namespace Mesh.Discovery;

/// <summary>Where the mesh registry is asked, and which of a service's instances an app wants.</summary>
public sealed class MeshDiscoveryOptions
{
    /// <summary>
    /// A Mesh sidecar's Consul agent API (its <c>--consul-port</c>), next to the app: the sidecar holds
    /// the mesh registry's snapshot and answers blocking queries from it. Default <c>http://127.0.0.1:8500</c>.
    /// </summary>
    public Uri Agent { get; set; } = new("http://127.0.0.1:8500");

    /// <summary>The namespace service names are looked up in, unless a name says <c>service.namespace</c>. Default <c>default</c>.</summary>
    public string Namespace { get; set; } = "default";

    /// <summary>Only instances carrying all these labels (a subset, as a DestinationRule's <c>labels</c>), e.g. <c>version=v2</c>.</summary>
    public IDictionary<string, string> Labels { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Prefer instances in this zone: when any healthy one is there, only those are used; otherwise all.</summary>
    public string? PreferZone { get; set; }

    /// <summary>
    /// How long an answer is trusted without news: the blocking query waits at most this long, so a
    /// quiet service's answer is revalidated at least this often. Default 30 s.
    /// </summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The first wait for a service's first answer before a call fails. Default 5 s.</summary>
    public TimeSpan FirstAnswerTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
