using Mesh.Core.Config.Model;
using Mesh.Core.Registry;

namespace Mesh.Core.Routing;

/// <summary>A set of endpoints requests can be sent to: a host, or one subset of it, with the traffic
/// policy that applies to it (the subset's fields over the DestinationRule's, as in Istio).</summary>
public sealed record ClusterDefinition(
    string Id,
    string Host,
    string? Subset,
    IReadOnlyList<ServiceInstance> Endpoints,
    SimpleLoadBalancer LoadBalancer)
{
    public static string IdFor(string host, string? subset) => subset is null ? host : $"{host}|{subset}";

    public ConsistentHashSettings? ConsistentHash { get; init; }

    /// <summary>Locality preference settings; null when the host's policy does not turn locality load balancing on.</summary>
    public LocalityLbSetting? Locality { get; init; }

    /// <summary>Null for a mesh service (reached through its sidecar's inbound port); "http" or "https" for a
    /// ServiceEntry host, reached directly.</summary>
    public string? ExternalScheme { get; init; }

    public TrafficPolicy? Policy { get; init; }

    /// <summary>Endpoints that may take new requests.</summary>
    public IEnumerable<ServiceInstance> HealthyEndpoints => Endpoints.Where(e => e.Health == HealthStatus.Healthy);
}
