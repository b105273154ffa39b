using Mesh.Core.Registry;

namespace Mesh.Sidecar.Discovery;

/// <summary>How an instance of the mesh that no Eureka client of this sidecar registered looks to Eureka clients.</summary>
internal static class EurekaView
{
    /// <summary>Metadata key saying who registered the instance: <c>sidecar</c> (its port is the sidecar's
    /// inbound port, mutual TLS), <c>eureka</c> or <c>consul</c> (plaintext HTTP at its address).</summary>
    public const string SourceKey = "mesh.source";

    /// <summary>Status from health (UP when healthy, else DOWN); labels and locality as metadata; the vip address is the service name.</summary>
    public static EurekaInstance FromMesh(ServiceInstance instance)
    {
        var metadata = new Dictionary<string, string>(instance.Labels, StringComparer.Ordinal);
        if (instance.Zone is { } zone)
        {
            metadata.TryAdd("zone", zone);
        }
        if (instance.Region is { } region)
        {
            metadata.TryAdd("region", region);
        }
        metadata[SourceKey] = instance.Source.ToString().ToLowerInvariant();
        return new EurekaInstance
        {
            InstanceId = instance.InstanceId,
            App = instance.Service.ToUpperInvariant(),
            HostName = instance.Address,
            IpAddr = instance.Address,
            Port = instance.Port,
            VipAddress = instance.Service,
            SecureVipAddress = instance.Service,
            Status = instance.Health == HealthStatus.Healthy ? EurekaStatus.Up : EurekaStatus.Down,
            Metadata = metadata,
            RegisteredAt = instance.RegisteredAt,
            LastRenewedAt = instance.RegisteredAt,
            LastDirtyAt = instance.RegisteredAt,
        };
    }
}
