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
}
