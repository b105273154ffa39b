using Mesh.Core.Config.Model;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Peering;

/// <summary>Which of this region's own instances a peer may import: those of the services ExportedServices exports to it.</summary>
internal static class ExportSelection
{
    /// <summary>
    /// Only instances with a sidecar in front: a peer's callers reach them over mutual TLS with this region's
    /// identities. Consul and Eureka registrations are plaintext to their address and stay in their region.
    /// Instances imported from other peers are never passed on (peering is not transitive, as in Consul).
    /// </summary>
    public static IReadOnlyList<ServiceInstance> For(string peer, ConfigSet config, IEnumerable<ServiceInstance> own)
    {
        var exported = config.ExportedServices
            .SelectMany(r => r.Spec.Services
                .Where(s => s.Consumers.Any(c => c.Peer == peer))
                .Select(s => $"{s.Name}.{s.Namespace ?? r.Metadata.Namespace}"))
            .ToHashSet(StringComparer.Ordinal);
        return exported.Count == 0
            ? []
            : own.Where(i => i.Peer is null && i.HasSidecar && exported.Contains(i.Host)).OrderBy(i => i.InstanceId, StringComparer.Ordinal).ToArray();
    }

    /// <summary>How many services this region exports to <paramref name="peer"/>.</summary>
    public static int ServiceCount(string peer, ConfigSet config) =>
        config.ExportedServices.Sum(r => r.Spec.Services.Count(s => s.Consumers.Any(c => c.Peer == peer)));
}
