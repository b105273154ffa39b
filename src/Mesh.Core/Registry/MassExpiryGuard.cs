namespace Mesh.Core.Registry;

/// <summary>
/// Mass-expiry protection's decision (Eureka calls it self-preservation), shared by every place that
/// expires leases: the file store's registry and, on etcd, each replica for the instances that heartbeat
/// through it. Lapsed leases are held instead of expired when more than
/// <see cref="RegistryOptions.MassExpiryThreshold"/> of the instances are in trouble at once: lapsed now,
/// expired within the last lease TTL, or <b>late</b> (not renewed for <see cref="LateAfter"/>, two
/// heartbeat intervals with the defaults). Counting the late ones sees an overloaded control plane or a
/// partition while its heartbeats are merely delayed, before the first lease runs out: counting lapses
/// alone let the first quarter of them expire before the hold began, live instances among them. A lone
/// dead instance is late alone and expires as usual. Not thread-safe: its caller's lock or loop owns it.
/// </summary>
public sealed class MassExpiryGuard(RegistryOptions options)
{
    private readonly Queue<(DateTimeOffset At, int Count)> _recentExpiries = new();
    private int _recentlyExpired;

    /// <summary>The hold in force, or null.</summary>
    public LeaseHold? Hold { get; private set; }

    /// <summary>How long a lease may go unrenewed before it counts as late: two heartbeat intervals, or half
    /// the TTL when that is longer, and always less than the TTL.</summary>
    public static TimeSpan LateAfter(RegistryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var late = TimeSpan.FromTicks(Math.Max(2 * options.HeartbeatInterval.Ticks, options.LeaseTtl.Ticks / 2));
        return late < options.LeaseTtl ? late : options.LeaseTtl / 2;
    }

    /// <summary>
    /// Whether the <paramref name="lapsed"/> leases that ran out by <paramref name="now"/> may expire; when
    /// true they are counted as expired. <paramref name="late"/> counts the others not renewed for
    /// <see cref="LateAfter"/>, of <paramref name="total"/> instances (the lapsed included). A hold, once
    /// started, lasts until every held lease is renewed or <see cref="RegistryOptions.MassExpiryHold"/> is up.
    /// </summary>
    public bool MayExpire(DateTimeOffset now, int lapsed, int late, int total)
    {
        if (lapsed == 0)
        {
            Hold = null;
            return true;
        }
        // Counted over a lease's time, not one sweep: when heartbeats stop arriving leases lapse over a whole
        // heartbeat interval, a few per sweep.
        while (_recentExpiries.TryPeek(out var old) && now - old.At > options.LeaseTtl)
        {
            _recentExpiries.Dequeue();
            _recentlyExpired -= old.Count;
        }
        var troubled = lapsed + late + _recentlyExpired;
        var mass = troubled >= options.MassExpiryMinimum && troubled > options.MassExpiryThreshold * (total + _recentlyExpired);
        if (mass || Hold is not null)
        {
            var since = Hold?.Since ?? now;
            if (now - since < options.MassExpiryHold)
            {
                Hold = new LeaseHold(since, lapsed, total + _recentlyExpired, _recentlyExpired, late);
                return false;
            }
        }
        Hold = null;
        _recentExpiries.Enqueue((now, lapsed));
        _recentlyExpired += lapsed;
        return true;
    }
}
