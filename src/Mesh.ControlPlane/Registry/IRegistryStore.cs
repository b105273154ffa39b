using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry;

/// <summary>
/// Where registry writes go. The file store applies them to this process's <see cref="ServiceRegistry"/>
/// (saved by <see cref="StateStore"/>); the etcd store writes them to etcd, and every replica's registry
/// follows etcd through a watch, so reads (snapshots, DNS, admin) stay on the local registry either way.
/// </summary>
internal interface IRegistryStore
{
    /// <summary>Registers (or replaces) an instance and returns its lease.</summary>
    Task<LeaseGrant> RegisterAsync(Registration registration, CancellationToken cancellationToken);

    /// <summary>Renews the lease with the health the sidecar saw; false when the instance is unknown or its lease has run out.</summary>
    Task<bool> RenewAsync(string instanceId, HealthStatus health, CancellationToken cancellationToken);

    /// <summary>Removes an instance; false when it was not registered.</summary>
    Task<bool> DeregisterAsync(string instanceId, CancellationToken cancellationToken);

    /// <summary>The mass-expiry hold in force on the leases this process expires, or null (<see cref="MassExpiryGuard"/>).</summary>
    LeaseHold? Hold { get; }

    /// <summary>Marks a healthy instance unhealthy (its sidecar's watch broke); false when unknown or not healthy.</summary>
    Task<bool> MarkUnreachableAsync(string instanceId, CancellationToken cancellationToken);
}
