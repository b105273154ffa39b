using Mesh.Core.Config.Model;
using Mesh.Core.Registry;

namespace Mesh.Core.Routing;

/// <summary>A set of endpoints requests can be sent to: a host, or one subset of it.</summary>
public sealed record ClusterDefinition(
    string Id,
    string Host,
    string? Subset,
    IReadOnlyList<ServiceInstance> Endpoints,
    SimpleLoadBalancer LoadBalancer)
{
    public static string IdFor(string host, string? subset) => subset is null ? host : $"{host}|{subset}";

    /// <summary>Endpoints that may take new requests.</summary>
    public IEnumerable<ServiceInstance> HealthyEndpoints => Endpoints.Where(e => e.Health == HealthStatus.Healthy);
}
