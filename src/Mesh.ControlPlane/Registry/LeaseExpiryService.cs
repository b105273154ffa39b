using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry;

/// <summary>Sweeps expired leases often enough that detection time is the TTL plus at most one sweep, and reports mass-expiry holds.</summary>
internal sealed class LeaseExpiryService(ServiceRegistry registry, TimeProvider time, ILogger<LeaseExpiryService> logger) : BackgroundService
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(250);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SweepInterval, time);
        LeaseHold? held = null;
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            var expired = registry.ExpireLeases();
            foreach (var instance in expired)
            {
                Log.LeaseExpired(logger, instance.InstanceId, instance.Service, instance.Namespace, instance.Address, instance.Port);
            }
            var hold = registry.Hold;
            if (hold is not null && held is null)
            {
                Log.LeaseExpiryHeld(logger, hold.Lapsed + hold.Late + hold.RecentlyExpired, hold.Total, registry.Options.MassExpiryThreshold, hold.RecentlyExpired, hold.Lapsed, registry.Options.MassExpiryHold);
            }
            else if (hold is null && held is not null)
            {
                Log.LeaseExpiryResumed(logger, time.GetUtcNow() - held.Since, expired.Count);
            }
            held = hold;
        }
    }
}
