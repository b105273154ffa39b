using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// When the sweeper removes an instance whose etcd lease lapsed: at once normally; after
/// <see cref="RegistryOptions.RestoreGrace"/> for one that had no live lease when this replica took the
/// sweeper's office (its lease may have run out while no replica could renew it, as when every replica was
/// down); and, as the file store does, not before <see cref="RegistryOptions.MassExpiryHold"/> is over while
/// more than <see cref="RegistryOptions.MassExpiryThreshold"/> of all instances lapse within one lease TTL
/// (the likelier cause is the control plane's side, not that many sidecars died together). A heartbeat that
/// re-attaches a lease (<see cref="Renewed"/>) takes the instance off the schedule. Not thread-safe: the
/// sweeper's one loop owns it.
/// </summary>
internal sealed class LapseSchedule(RegistryOptions options, TimeProvider time)
{
    private readonly Dictionary<string, DateTimeOffset> _due = new(StringComparer.Ordinal);
    private readonly Queue<DateTimeOffset> _recentLapses = new();

    /// <summary>Until when removals are held, or null when they are not.</summary>
    public DateTimeOffset? HeldUntil { get; private set; }

    public int Pending => _due.Count;

    /// <summary>How many leases lapsed within the last lease TTL.</summary>
    public int RecentLapses => _recentLapses.Count;

    /// <summary>An instance's live lease lapsed just now; <paramref name="total"/> is how many instances the registry holds.
    /// True when this lapse started a mass-expiry hold.</summary>
    public bool Lapsed(string instanceId, int total)
    {
        var now = time.GetUtcNow();
        _recentLapses.Enqueue(now);
        while (_recentLapses.TryPeek(out var at) && at <= now - options.LeaseTtl)
        {
            _recentLapses.Dequeue();
        }
        var started = false;
        if (HeldUntil is null && _recentLapses.Count >= options.MassExpiryMinimum && _recentLapses.Count > options.MassExpiryThreshold * total)
        {
            HeldUntil = now + options.MassExpiryHold;
            started = true;
        }
        _due[instanceId] = HeldUntil ?? now;
        return started;
    }

    /// <summary>An instance had no live lease when this replica became the sweeper: it gets the restore grace.</summary>
    public void Orphaned(string instanceId) => _due.TryAdd(instanceId, time.GetUtcNow() + options.RestoreGrace);

    /// <summary>Removing the instance failed (etcd unreachable): due again at once.</summary>
    public void Retry(string instanceId) => _due[instanceId] = time.GetUtcNow();

    /// <summary>A live lease is back (a heartbeat re-attached one, or the instance registered again).</summary>
    public void Renewed(string instanceId) => _due.Remove(instanceId);

    /// <summary>The instances due for removal now, taken off the schedule; ends a hold that is over.</summary>
    public IReadOnlyList<string> TakeDue()
    {
        var now = time.GetUtcNow();
        if (HeldUntil <= now)
        {
            HeldUntil = null;
        }
        List<string>? due = null;
        foreach (var (id, at) in _due)
        {
            if (at <= now)
            {
                (due ??= []).Add(id);
            }
        }
        foreach (var id in due ?? [])
        {
            _due.Remove(id);
        }
        return due ?? [];
    }
}
