namespace Mesh.Core.Registry;

/// <summary>
/// The service registry: instances with leases. Thread-safe; readers get an immutable array that is
/// replaced on every change, so building a snapshot never blocks registration.
/// </summary>
public sealed class ServiceRegistry(RegistryOptions options, TimeProvider time)
{
    private readonly Lock _gate = new();
    // Kept in id order, so publishing a change is a copy, not a sort (10,000 registrations in a row
    // were O(n² log n) with a sort per change).
    private readonly SortedDictionary<string, ServiceInstance> _byId = new(StringComparer.Ordinal);
    private ServiceInstance[] _instances = [];
    private readonly MassExpiryGuard _guard = new(options);

    /// <summary>Raised (outside the lock) whenever the routing-relevant set of instances changes.</summary>
    public event Action? Changed;

    public RegistryOptions Options => options;

    /// <summary>When this registry was made (the control plane's start).</summary>
    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();

    /// <summary>Whether it started from saved state (<see cref="Restore"/>) rather than empty.</summary>
    public bool Restored { get; private set; }

    /// <summary>
    /// How much longer a sidecar that was connected to an earlier control-plane run should wait for its
    /// first snapshot: a registry that started empty (its saved state lost) learns the live instances only
    /// as their sidecars re-register, within <see cref="RegistryOptions.RestoreGrace"/>; serving it before
    /// then would hand those sidecars an empty or partial world in place of the one they route with.
    /// </summary>
    public TimeSpan WarmUpRemaining(DateTimeOffset now) =>
        Restored ? TimeSpan.Zero : TimeSpan.FromTicks(Math.Max(0, (StartedAt + options.RestoreGrace - now).Ticks));

    /// <summary>Instances ordered by id; lease times are as of the last change, not of every renewal.</summary>
    public IReadOnlyList<ServiceInstance> Instances => Volatile.Read(ref _instances);

    /// <summary>Instances ordered by id with their leases as of the last renewal: what operators read (a copy per call).</summary>
    public IReadOnlyList<ServiceInstance> InstancesWithLiveLeases()
    {
        lock (_gate)
        {
            return [.. _byId.Values];
        }
    }

    /// <summary>The instance with this id, or null.</summary>
    public ServiceInstance? Find(string instanceId)
    {
        lock (_gate)
        {
            return _byId.GetValueOrDefault(instanceId);
        }
    }

    public LeaseGrant Register(Registration registration)
    {
        var now = time.GetUtcNow();
        bool changed;
        lock (_gate)
        {
            _byId.TryGetValue(registration.InstanceId, out var existing);
            var instance = registration.ToInstance(existing?.RegisteredAt ?? now, now + options.LeaseTtl);
            changed = existing is null || !SameRouting(existing, instance);
            _byId[instance.InstanceId] = instance;
            Publish();
        }
        if (changed)
        {
            Changed?.Invoke();
        }
        return new LeaseGrant(options.LeaseTtl, options.HeartbeatInterval);
    }

    /// <summary>Renews the lease and records the health the sidecar saw; false if the instance is unknown
    /// (expired, or the registry restarted without it), and the sidecar must register again.</summary>
    public bool Renew(string instanceId, HealthStatus health)
    {
        bool changed;
        lock (_gate)
        {
            if (!_byId.TryGetValue(instanceId, out var existing))
            {
                return false;
            }
            changed = existing.Health != health;
            _byId[instanceId] = existing with { Health = health, LeaseExpiresAt = time.GetUtcNow() + options.LeaseTtl };
            if (changed)
            {
                Publish();
            }
        }
        if (changed)
        {
            Changed?.Invoke();
        }
        return true;
    }

    /// <summary>
    /// Marks a healthy instance unhealthy because its sidecar's connection to the control plane closed
    /// abnormally and did not come back; its next heartbeat says otherwise if it lives. False if the
    /// instance is unknown or was not healthy.
    /// </summary>
    public bool MarkUnreachable(string instanceId)
    {
        lock (_gate)
        {
            if (!_byId.TryGetValue(instanceId, out var existing) || existing.Health != HealthStatus.Healthy)
            {
                return false;
            }
            _byId[instanceId] = existing with { Health = HealthStatus.Unhealthy };
            Publish();
        }
        Changed?.Invoke();
        return true;
    }

    public bool Deregister(string instanceId)
    {
        lock (_gate)
        {
            if (!_byId.Remove(instanceId))
            {
                return false;
            }
            Publish();
        }
        Changed?.Invoke();
        return true;
    }

    /// <summary>
    /// Puts an instance as a shared store holds it (another control-plane replica registered or changed
    /// it): no lease bookkeeping here, the store owns the lease. Raises <see cref="Changed"/> only when
    /// what callers route on changed.
    /// </summary>
    public void Apply(ServiceInstance instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        bool changed;
        lock (_gate)
        {
            changed = !_byId.TryGetValue(instance.InstanceId, out var existing) || !SameRouting(existing, instance);
            _byId[instance.InstanceId] = instance;
            Publish();
        }
        if (changed)
        {
            Changed?.Invoke();
        }
    }

    /// <summary>
    /// The mass-expiry hold in force, or null: since when, and how many leases have lapsed of how many
    /// instances (see <see cref="RegistryOptions.MassExpiryThreshold"/>).
    /// </summary>
    public LeaseHold? Hold
    {
        get
        {
            lock (_gate)
            {
                return _guard.Hold;
            }
        }
    }

    /// <summary>
    /// Removes every instance whose lease has run out and returns them, unless mass-expiry protection holds
    /// them (<see cref="MassExpiryGuard"/>, for up to <see cref="RegistryOptions.MassExpiryHold"/>; see <see cref="Hold"/>).
    /// </summary>
    public IReadOnlyList<ServiceInstance> ExpireLeases()
    {
        var now = time.GetUtcNow();
        // Late: last renewed (its lease's expiry less one TTL) at least LateAfter ago.
        var lateBefore = now + options.LeaseTtl - MassExpiryGuard.LateAfter(options);
        List<ServiceInstance>? expired = null;
        var late = 0;
        lock (_gate)
        {
            foreach (var instance in _byId.Values)
            {
                if (instance.LeaseExpiresAt <= now)
                {
                    (expired ??= []).Add(instance);
                }
                else if (instance.LeaseExpiresAt <= lateBefore)
                {
                    late++;
                }
            }
            if (!_guard.MayExpire(now, expired?.Count ?? 0, late, _byId.Count) || expired is null)
            {
                return [];
            }
            foreach (var instance in expired)
            {
                _byId.Remove(instance.InstanceId);
            }
            Publish();
        }
        Changed?.Invoke();
        return expired;
    }

    /// <summary>Loads instances saved before a restart, each with a fresh lease of a full TTL plus
    /// <see cref="RegistryOptions.RestoreGrace"/>, time for its sidecar to reconnect and renew it; an
    /// instance that died while the registry was down then expires normally.</summary>
    public void Restore(IEnumerable<ServiceInstance> instances)
    {
        var expires = time.GetUtcNow() + options.LeaseTtl + options.RestoreGrace;
        Restored = true;
        lock (_gate)
        {
            foreach (var instance in instances)
            {
                _byId[instance.InstanceId] = instance with { LeaseExpiresAt = expires };
            }
            Publish();
        }
        Changed?.Invoke();
    }

    private void Publish() =>
        Volatile.Write(ref _instances, [.. _byId.Values]);

    private static bool SameRouting(ServiceInstance a, ServiceInstance b) =>
        a.Service == b.Service && a.Namespace == b.Namespace && a.Address == b.Address && a.Port == b.Port
        && a.Health == b.Health && a.Zone == b.Zone && a.Region == b.Region && a.Source == b.Source
        && a.Tags.SequenceEqual(b.Tags)
        && a.Labels.Count == b.Labels.Count && a.Labels.All(kv => b.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value);
}

/// <summary>
/// Leases held by mass-expiry protection: since when, how many lapsed leases are held now, of how many
/// instances (counting those that expired within the last lease TTL, before the hold began), and how many
/// more are late (not renewed for <see cref="MassExpiryGuard.LateAfter"/>).
/// </summary>
public sealed record LeaseHold(DateTimeOffset Since, int Lapsed, int Total, int RecentlyExpired, int Late = 0);
