using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry;

/// <summary>The single-process store (<c>--store file</c>, the default): writes go straight to the in-memory registry, which <see cref="StateStore"/> saves in the data dir.</summary>
internal sealed class FileRegistryStore(ServiceRegistry registry) : IRegistryStore
{
    public LeaseHold? Hold => registry.Hold;

    public Task<LeaseGrant> RegisterAsync(Registration registration, CancellationToken cancellationToken) =>
        Task.FromResult(registry.Register(registration));

    public Task<bool> RenewAsync(string instanceId, HealthStatus health, CancellationToken cancellationToken) =>
        Task.FromResult(registry.Renew(instanceId, health));

    public Task<bool> DeregisterAsync(string instanceId, CancellationToken cancellationToken) =>
        Task.FromResult(registry.Deregister(instanceId));

    public Task<bool> MarkUnreachableAsync(string instanceId, CancellationToken cancellationToken) =>
        Task.FromResult(registry.MarkUnreachable(instanceId));
}
