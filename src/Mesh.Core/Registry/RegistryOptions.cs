namespace Mesh.Core.Registry;

public sealed record RegistryOptions
{
    /// <summary>A lease not renewed for this long expires. With the default heartbeat every 2 s and a
    /// sweep every 500 ms, a dead instance leaves the routing set within ~8.5 s.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How often sidecars renew; a third of the TTL or less survives one lost heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Added to the lease of every instance restored after a control-plane restart. Sidecars notice the
    /// control plane is back only at their next retry (backoff up to 5 s), and the restart itself takes a
    /// moment between loading the state and listening; without this, live instances whose sidecars had
    /// not reconnected yet expired and every caller briefly lost its endpoints (as Consul resets TTL
    /// checks after a leader change, and Eureka holds expiry after a restart).
    /// </summary>
    public TimeSpan RestoreGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When a sidecar's watch connection closes abnormally (its process died: the kernel closes its
    /// sockets at once) and no new watch from it comes within this time, its instance is marked
    /// unhealthy and callers are told, long before the lease runs out (as a ZooKeeper or etcd session's
    /// keys go with its connection). A live sidecar reconnects at once and renews it healthy with its
    /// next heartbeat; the lease TTL remains the fallback for what closes nothing (a host gone, a
    /// partition, SIGSTOP). Zero turns it off.
    /// </summary>
    public TimeSpan DisconnectGrace { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Mass-expiry protection (Eureka calls it self-preservation): when more than this fraction of all
    /// instances (and at least <see cref="MassExpiryMinimum"/>) lapse or are late within one lease TTL (<see cref="MassExpiryGuard"/>), the likelier cause
    /// is the control plane or the network (an overloaded control plane answering heartbeats late, a
    /// partition) rather than that many instances dying at once, so their leases are held for up to
    /// <see cref="MassExpiryHold"/>: a late heartbeat then renews the lease instead of meeting a 404 and a
    /// re-registration. 1 turns it off.
    /// </summary>
    public double MassExpiryThreshold { get; init; } = 0.25;

    /// <summary>Fewer lapsed leases than this are never held (small registries expire as usual).</summary>
    public int MassExpiryMinimum { get; init; } = 10;

    /// <summary>How long lapsed leases are held before they expire anyway (instances that really died).</summary>
    public TimeSpan MassExpiryHold { get; init; } = TimeSpan.FromSeconds(30);
}
