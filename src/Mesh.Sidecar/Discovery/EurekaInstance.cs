using Mesh.Core.Registry;
using ClientRegistration = Mesh.Core.Registry.Registration;

namespace Mesh.Sidecar.Discovery;

/// <summary>
/// An instance as a Eureka client registered it with this sidecar: the fields of Eureka's
/// <c>InstanceInfo</c> the mesh keeps, the status the client reports, the status an operator set over it
/// (<c>PUT .../status</c>, Eureka's overridden status) and the lease the client asked for.
/// </summary>
internal sealed record EurekaInstance
{
    public required string InstanceId { get; init; }

    /// <summary>Upper case, as Eureka names apps; the mesh service is its lower-case form.</summary>
    public required string App { get; init; }
    public required string HostName { get; init; }
    public required string IpAddr { get; init; }
    public required int Port { get; init; }
    public int SecurePort { get; init; } = 443;
    public bool SecurePortEnabled { get; init; }
    public string? VipAddress { get; init; }
    public string? SecureVipAddress { get; init; }
    public string Status { get; init; } = EurekaStatus.Up;
    public string? OverriddenStatus { get; init; }
    public string DataCenterClass { get; init; } = EurekaStatus.DefaultDataCenterClass;
    public string DataCenterName { get; init; } = "MyOwn";
    public IReadOnlyDictionary<string, string> DataCenterMetadata { get; init; } = new Dictionary<string, string>();
    public int RenewalIntervalInSecs { get; init; } = 30;
    public int DurationInSecs { get; init; } = 90;
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    public string? HomePageUrl { get; init; }
    public string? StatusPageUrl { get; init; }
    public string? HealthCheckUrl { get; init; }
    public DateTimeOffset RegisteredAt { get; init; }
    public DateTimeOffset LastRenewedAt { get; init; }
    public DateTimeOffset LastDirtyAt { get; init; }

    /// <summary>What clients see: an operator's override wins over what the client reports, as in Eureka.</summary>
    public string EffectiveStatus => OverriddenStatus ?? Status;

    /// <summary>When the lease lapses without a renewal (Eureka's eviction).</summary>
    public DateTimeOffset LeaseExpiresAt => LastRenewedAt + TimeSpan.FromSeconds(DurationInSecs);

    public string Service => App.ToLowerInvariant();

    public string? Zone => Metadata.GetValueOrDefault("zone") ?? DataCenterMetadata.GetValueOrDefault("availability-zone");

    /// <summary>The mesh registration: UP is routed, every other status is listed but not routed.</summary>
    public ClientRegistration ToRegistration(string meshId, string @namespace) => new()
    {
        InstanceId = meshId,
        Service = Service,
        Namespace = @namespace,
        Address = IpAddr,
        Port = Port,
        Labels = Metadata,
        Zone = Zone,
        Region = Metadata.GetValueOrDefault("region"),
        Health = EffectiveStatus == EurekaStatus.Up ? HealthStatus.Healthy : HealthStatus.Unhealthy,
        Source = RegistrationSource.Eureka,
    };
}
