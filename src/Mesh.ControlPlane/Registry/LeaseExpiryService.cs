using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry;

/// <summary>Sweeps expired leases often enough that detection time is the TTL plus at most one sweep.</summary>
internal sealed class LeaseExpiryService(ServiceRegistry registry, TimeProvider time, ILogger<LeaseExpiryService> logger) : BackgroundService
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(250);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SweepInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            foreach (var expired in registry.ExpireLeases())
            {
                Log.LeaseExpired(logger, expired.InstanceId, expired.Service, expired.Namespace, expired.Address, expired.Port);
            }
        }
    }
}
