using Mesh.Core.Registry;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Registry;

public sealed class ServiceRegistryTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly ServiceRegistry _registry;

    public ServiceRegistryTests() =>
        _registry = new ServiceRegistry(new RegistryOptions { LeaseTtl = TimeSpan.FromSeconds(8), HeartbeatInterval = TimeSpan.FromSeconds(2) }, _time);

    private static Registration Instance(string id, HealthStatus health = HealthStatus.Healthy) => new()
    {
        InstanceId = id,
        Service = "reviews",
        Address = "127.0.0.1",
        Port = 15006,
        Health = health,
        Labels = new Dictionary<string, string> { ["version"] = "v1" },
    };

    [Fact]
    public void Register_NewInstance_GrantsConfiguredLeaseAndListsIt()
    {
        var lease = _registry.Register(Instance("a"));

        Assert.Equal(TimeSpan.FromSeconds(8), lease.Ttl);
        Assert.Equal(TimeSpan.FromSeconds(2), lease.HeartbeatInterval);
        var instance = Assert.Single(_registry.Instances);
        Assert.Equal("reviews.default", instance.Host);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(8), instance.LeaseExpiresAt);
    }

    [Fact]
    public void ExpireLeases_NotRenewedForTtl_RemovesInstance()
    {
        _registry.Register(Instance("a"));
        _time.Advance(TimeSpan.FromSeconds(7.9));
        Assert.Empty(_registry.ExpireLeases());

        _time.Advance(TimeSpan.FromSeconds(0.1));
        var expired = Assert.Single(_registry.ExpireLeases());

        Assert.Equal("a", expired.InstanceId);
        Assert.Empty(_registry.Instances);
    }

    [Fact]
    public void MassExpiry_ManyLeasesLapsingAtOnce_AreHeld_AndALateHeartbeatRenewsInsteadOfA404()
    {
        // 40 instances; 20 (50%, over the 25% threshold) miss their heartbeats, as when an overloaded
        // control plane answers them late. The other 20 keep renewing.
        var ids = Enumerable.Range(0, 40).Select(i => $"i{i}").ToArray();
        foreach (var id in ids)
        {
            _registry.Register(Instance(id));
        }
        _time.Advance(TimeSpan.FromSeconds(6));
        foreach (var id in ids[20..])
        {
            _registry.Renew(id, HealthStatus.Healthy);
        }
        _time.Advance(TimeSpan.FromSeconds(3)); // the first 20 are 1 s past their lease

        Assert.Empty(_registry.ExpireLeases());
        Assert.Equal(new LeaseHold(_time.GetUtcNow(), 20, 40, 0), _registry.Hold);
        Assert.Equal(40, _registry.Instances.Count);

        // A late heartbeat finds its instance and renews it; no re-registration needed.
        Assert.True(_registry.Renew("i0", HealthStatus.Healthy));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(_registry.ExpireLeases());
        Assert.Equal(19, _registry.Hold!.Lapsed);
    }

    [Fact]
    public void MassExpiry_HeldLeasesOfInstancesThatReallyDied_ExpireAfterTheHold()
    {
        var ids = Enumerable.Range(0, 20).Select(i => $"i{i}").ToArray();
        foreach (var id in ids)
        {
            _registry.Register(Instance(id));
        }
        _time.Advance(TimeSpan.FromSeconds(8)); // all 20 lapse together: held
        Assert.Empty(_registry.ExpireLeases());
        var since = _registry.Hold!.Since;

        _time.Advance(TimeSpan.FromSeconds(29.9));
        Assert.Empty(_registry.ExpireLeases());
        Assert.Equal(since, _registry.Hold!.Since);

        _time.Advance(TimeSpan.FromSeconds(0.1)); // 30 s, the default hold
        Assert.Equal(20, _registry.ExpireLeases().Count);
        Assert.Null(_registry.Hold);
        Assert.Empty(_registry.Instances);
    }

    [Fact]
    public void MassExpiry_LeasesLapsingAFewPerSweep_HeldFromTheFirst_SinceTheRestAreLateAlready()
    {
        // A partition: heartbeats stop arriving, and leases lapse over a heartbeat interval, 4 per 250 ms sweep.
        var ids = Enumerable.Range(0, 40).Select(i => $"i{i}").ToArray();
        for (var i = 0; i < ids.Length; i++)
        {
            _registry.Register(Instance(ids[i]));
            if (i % 4 == 3)
            {
                _time.Advance(TimeSpan.FromMilliseconds(250));
            }
        }
        _time.Advance(TimeSpan.FromSeconds(8) - TimeSpan.FromMilliseconds(2500));
        var expired = 0;
        for (var sweep = 0; sweep < 12; sweep++)
        {
            expired += _registry.ExpireLeases().Count;
            _time.Advance(TimeSpan.FromMilliseconds(250));
        }
        // When the first 4 lapse the other 36 have gone more than two heartbeat intervals without a renewal:
        // 40 of 40 in trouble, so the first 4 are held with the rest (counting lapses alone expired 8 first).
        Assert.Equal(0, expired);
        Assert.Equal(40, _registry.Hold!.Lapsed);
        Assert.Equal(0, _registry.Hold.RecentlyExpired);
        Assert.Equal(40, _registry.Hold.Total);

        // The hold stays until its time is up, then the instances that really died expire.
        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.Empty(_registry.ExpireLeases());
        Assert.Equal(40, _registry.Hold!.Lapsed);
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(40, _registry.ExpireLeases().Count);
        Assert.Null(_registry.Hold);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MassExpiry_OneLapse_HeldWhenManyOthersAreLate_ExpiredWhenTheyAreNot(bool othersLate)
    {
        // i0 stops at t=0. i1-i12 last renewed at t=3 (late by t=8 when their heartbeats are delayed, as by an
        // overloaded control plane) or at t=6 (on time). i13-i39 renew on time. At t=8 only i0's lease runs out.
        var registry = new ServiceRegistry(new RegistryOptions { LeaseTtl = TimeSpan.FromSeconds(8), HeartbeatInterval = TimeSpan.FromSeconds(2) }, _time);
        var ids = Enumerable.Range(0, 40).Select(i => $"i{i}").ToArray();
        foreach (var id in ids)
        {
            registry.Register(Instance(id));
        }
        _time.Advance(TimeSpan.FromSeconds(3));
        foreach (var id in ids[1..])
        {
            registry.Renew(id, HealthStatus.Healthy);
        }
        _time.Advance(TimeSpan.FromSeconds(3));
        foreach (var id in othersLate ? ids[13..] : ids[1..])
        {
            registry.Renew(id, HealthStatus.Healthy);
        }
        _time.Advance(TimeSpan.FromSeconds(2));

        var expired = registry.ExpireLeases();
        if (othersLate)
        {
            // 1 lapsed and 12 late of 40: 13 in trouble, over the minimum of 10 and 25%: held.
            Assert.Empty(expired);
            Assert.Equal(new LeaseHold(_time.GetUtcNow(), 1, 40, 0, 12), registry.Hold);
        }
        else
        {
            Assert.Equal("i0", Assert.Single(expired).InstanceId);
            Assert.Null(registry.Hold);
        }
    }

    [Fact]
    public void MassExpiry_FewLapsed_OrUnderTheThreshold_OrTurnedOff_ExpireAtOnce()
    {
        static ServiceRegistry WithInstances(TimeProvider time, int total, double threshold = 0.25)
        {
            var registry = new ServiceRegistry(new RegistryOptions { MassExpiryThreshold = threshold }, time);
            foreach (var i in Enumerable.Range(0, total))
            {
                registry.Register(Instance($"i{i}"));
            }
            return registry;
        }
        void Renew(ServiceRegistry registry, int from, int to)
        {
            foreach (var i in Enumerable.Range(from, to - from))
            {
                registry.Renew($"i{i}", HealthStatus.Healthy);
            }
        }

        // 9 lapsing of 9: under the minimum of 10.
        var small = WithInstances(_time, 9);
        _time.Advance(TimeSpan.FromSeconds(8));
        Assert.Equal(9, small.ExpireLeases().Count);
        Assert.Null(small.Hold);

        // 10 lapsing of 50 (20%): under the 25% threshold.
        var big = WithInstances(_time, 50);
        _time.Advance(TimeSpan.FromSeconds(6));
        Renew(big, 10, 50);
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(10, big.ExpireLeases().Count);
        Assert.Null(big.Hold);

        // Threshold 1 turns protection off: all 20 of 20 expire at once.
        var off = WithInstances(_time, 20, threshold: 1);
        _time.Advance(TimeSpan.FromSeconds(8));
        Assert.Equal(20, off.ExpireLeases().Count);
        Assert.Null(off.Hold);
    }

    [Fact]
    public void WarmUp_AnEmptyStartWaitsRestoreGrace_ARestoredOneDoesNot()
    {
        Assert.False(_registry.Restored);
        Assert.Equal(TimeSpan.FromSeconds(10), _registry.WarmUpRemaining(_time.GetUtcNow()));
        _time.Advance(TimeSpan.FromSeconds(7));
        Assert.Equal(TimeSpan.FromSeconds(3), _registry.WarmUpRemaining(_time.GetUtcNow()));
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(TimeSpan.Zero, _registry.WarmUpRemaining(_time.GetUtcNow()));

        var restored = new ServiceRegistry(new RegistryOptions(), _time);
        restored.Restore([]);
        Assert.True(restored.Restored);
        Assert.Equal(TimeSpan.Zero, restored.WarmUpRemaining(_time.GetUtcNow()));
    }

    [Fact]
    public void Renew_BeforeExpiry_ExtendsLeaseFromNow()
    {
        _registry.Register(Instance("a"));
        _time.Advance(TimeSpan.FromSeconds(6));
        Assert.True(_registry.Renew("a", HealthStatus.Healthy));

        _time.Advance(TimeSpan.FromSeconds(6));
        Assert.Empty(_registry.ExpireLeases());
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Single(_registry.ExpireLeases());
    }

    [Fact]
    public void Renew_UnknownInstance_ReturnsFalseSoSidecarRegistersAgain()
    {
        Assert.False(_registry.Renew("ghost", HealthStatus.Healthy));
    }

    [Fact]
    public void Renew_HealthChange_RaisesChangedButPlainRenewalDoesNot()
    {
        _registry.Register(Instance("a"));
        var changes = 0;
        _registry.Changed += () => changes++;

        _registry.Renew("a", HealthStatus.Healthy);
        Assert.Equal(0, changes);

        _registry.Renew("a", HealthStatus.Unhealthy);
        Assert.Equal(1, changes);
        Assert.Equal(HealthStatus.Unhealthy, _registry.Instances[0].Health);
    }

    [Fact]
    public void Register_SameIdAgain_ReplacesWithoutDuplicateAndKeepsRegisteredAt()
    {
        _registry.Register(Instance("a"));
        var first = _registry.Instances[0].RegisteredAt;
        _time.Advance(TimeSpan.FromSeconds(3));

        _registry.Register(Instance("a") with { Port = 16006 });

        var instance = Assert.Single(_registry.Instances);
        Assert.Equal(16006, instance.Port);
        Assert.Equal(first, instance.RegisteredAt);
    }

    [Fact]
    public void Deregister_KnownInstance_RemovesItAtOnce()
    {
        _registry.Register(Instance("a"));
        _registry.Register(Instance("b"));

        Assert.True(_registry.Deregister("a"));
        Assert.False(_registry.Deregister("a"));
        Assert.Equal("b", Assert.Single(_registry.Instances).InstanceId);
    }

    [Fact]
    public void Restore_SavedInstances_GetFreshLeasePlusGraceThenExpireIfNotRenewed()
    {
        var saved = new ServiceInstance
        {
            InstanceId = "a", Service = "reviews", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy,
            LeaseExpiresAt = _time.GetUtcNow() - TimeSpan.FromHours(1),
        };

        _registry.Restore([saved]);
        Assert.Empty(_registry.ExpireLeases());

        // A full TTL is not enough for a sidecar still in its reconnect backoff: the restore grace (10 s) is added.
        _time.Advance(TimeSpan.FromSeconds(8));
        Assert.Empty(_registry.ExpireLeases());
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Single(_registry.ExpireLeases());
    }

    [Fact]
    public void Apply_InstanceFromASharedStore_ListsItAndRaisesChangedOnlyWhenRoutingChanges()
    {
        var changes = 0;
        _registry.Changed += () => changes++;
        var instance = Instance("a").ToInstance(_time.GetUtcNow(), _time.GetUtcNow() + TimeSpan.FromSeconds(8));

        _registry.Apply(instance);
        _registry.Apply(instance with { LeaseExpiresAt = instance.LeaseExpiresAt + TimeSpan.FromSeconds(1) });
        _registry.Apply(instance with { Health = HealthStatus.Unhealthy });

        Assert.Equal(2, changes);
        Assert.Equal(HealthStatus.Unhealthy, Assert.Single(_registry.Instances).Health);
    }
}
