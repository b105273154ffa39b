using Mesh.Core.Config.Model;
using Mesh.Core.Routing;
using System.Net;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Transport;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;

namespace Mesh.Sidecar.Configuration;

/// <summary>
/// Turns a route table into YARP config: one route per host, matching every name a caller may use
/// for it, and one cluster per host or subset whose destinations are the healthy endpoints. Route
/// choice inside a host (VirtualService rules, weights) is done by the routing step in the proxy
/// pipeline; YARP's own matcher only needs hosts, so endpoint churn never rebuilds it.
/// </summary>
internal sealed class ProxyConfigBuilder
{
    // The app already sent Host; the callee's sidecar and app expect the name the caller used.
    private static readonly IReadOnlyList<IReadOnlyDictionary<string, string>> RouteTransforms =
    [
        new Dictionary<string, string> { ["RequestHeaderOriginalHost"] = "true" },
        new Dictionary<string, string> { ["X-Forwarded"] = "Off" },
    ];

    /// <summary>
    /// YARP needs a cluster on every route before the pipeline runs; a host whose rules only redirect or
    /// answer directly gets this empty one, which nothing is ever forwarded to.
    /// </summary>
    public const string LocalAnswerCluster = "mesh-local-answer";

    public (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) Build(RouteTable table)
    {
        var routes = table.Names
            .GroupBy(n => n.Value.Host, n => n.Key, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new RouteConfig
            {
                RouteId = g.Key,
                ClusterId = table.TryGetHost(g.Key, out var host)
                    ? host.Rules.SelectMany(r => r.Destinations).FirstOrDefault()?.ClusterId ?? LocalAnswerCluster
                    : LocalAnswerCluster,
                Match = new RouteMatch { Hosts = g.Order(StringComparer.Ordinal).ToArray() },
                Transforms = RouteTransforms,
            })
            .ToArray();

        var clusters = table.Clusters.Select(Cluster).Append(new ClusterConfig { ClusterId = LocalAnswerCluster }).ToArray();
        return (routes, clusters);
    }

    private static ClusterConfig Cluster(ClusterDefinition c)
    {
        var tls = c.ExternalScheme is null ? MeshTransport.ModeName(c.Policy?.Tls?.Mode) : MeshTransport.External;
        var (scheme, version) = c.ExternalScheme is null ? MeshTransport.For(tls) : (c.ExternalScheme, HttpVersion.Version11);
        if (c.Policy?.ConnectionPool?.Http is { } http
            && (http.MaxRequestsPerConnection == 1 || http.H2UpgradePolicy == H2UpgradePolicy.DoNotUpgrade))
        {
            // One request per connection is HTTP/1.1 with Connection: close; DO_NOT_UPGRADE keeps a pool
            // of HTTP/1.1 connections (over the same mutual TLS, ALPN http/1.1).
            version = HttpVersion.Version11;
        }
        // The identity a mesh host's servers must prove: reviews.default.svc.cluster.local -> default/reviews.
        var labels = c.Host.Split('.');
        var metadata = new Dictionary<string, string>
        {
            ["host"] = c.Host,
            ["subset"] = c.Subset ?? "",
            [MeshTransport.TlsKey] = tls,
            [MeshTransport.IdentityKey] = labels.Length > 1 ? $"{labels[1]}/{labels[0]}" : "",
        };
        if (c.Endpoints.Select(e => e.TrustDomain).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray() is { Length: > 0 } peered)
        {
            metadata[MeshTransport.TrustDomainsKey] = string.Join(',', peered);
        }
        if (c.ExternalScheme == "https" && c.Policy?.Tls is { } external)
        {
            ExternalTls.Describe(external, metadata);
        }
        return new ClusterConfig
        {
            ClusterId = c.Id,
            LoadBalancingPolicy = c.ConsistentHash is null ? Policy(c.LoadBalancer) : ConsistentHashPolicy.PolicyName,
            HttpRequest = new ForwarderRequestConfig
            {
                Version = version,
                VersionPolicy = c.ExternalScheme is null ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
            },
            Destinations = c.HealthyEndpoints.ToDictionary(
                e => e.InstanceId,
                e => new DestinationConfig { Address = $"{(e.HasSidecar ? scheme : "http")}://{FormatHost(e.Address)}:{e.Port}", Metadata = Locality(e) },
                StringComparer.Ordinal),
            Metadata = metadata,
        };
    }

    private static string Policy(SimpleLoadBalancer lb) => lb switch
    {
        SimpleLoadBalancer.LeastRequest => LoadBalancingPolicies.LeastRequests,
        SimpleLoadBalancer.Random or SimpleLoadBalancer.Passthrough => LoadBalancingPolicies.Random,
        // Istio's default when no DestinationRule says otherwise is round robin across healthy endpoints.
        _ => LoadBalancingPolicies.RoundRobin,
    };

    /// <summary>Destination metadata key: the peering an imported endpoint came from (shown on /clusters).</summary>
    public const string PeerKey = "peer";

    /// <summary>Destination metadata key: "true" when the endpoint's region's control plane stopped answering.</summary>
    public const string StaleKey = "stale";

    private static Dictionary<string, string>? Locality(Mesh.Core.Registry.ServiceInstance e)
    {
        if (e.Zone is null && e.Region is null && e.Peer is null)
        {
            return null;
        }
        var metadata = new Dictionary<string, string> { [LocalityStep.RegionKey] = e.Region ?? "", [LocalityStep.ZoneKey] = e.Zone ?? "" };
        if (e.Peer is not null)
        {
            metadata[PeerKey] = e.Peer;
            metadata[StaleKey] = e.Stale ? "true" : "false";
        }
        return metadata;
    }

    private static string FormatHost(string address) =>
        address.Contains(':') && !address.StartsWith('[') ? $"[{address}]" : address;
}
