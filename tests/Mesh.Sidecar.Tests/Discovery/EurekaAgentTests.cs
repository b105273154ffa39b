using Mesh.Core.Registry;
using Mesh.Sidecar.Discovery;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Sidecar.Tests.Discovery;

/// <summary>The Eureka agent on fake time, with the real agent core behind it (not started: nothing reaches a control plane).</summary>
public sealed class EurekaAgentTests : IDisposable
{
    private readonly EurekaTestHost _host = new();
    private readonly FakeTimeProvider _time;
    private readonly EurekaAgent _eureka;
    private readonly AgentRegistrations _agent;

    public EurekaAgentTests() => (_time, _eureka, _agent) = (_host.Time, _host.Eureka, _host.Agent);

    private EurekaInstance Orders(string id = "orders-1") => new()
    {
        InstanceId = id, App = "ORDERS", HostName = "127.0.0.1", IpAddr = "127.0.0.1", Port = 8080, DurationInSecs = 3,
        RegisteredAt = _time.GetUtcNow(), LastRenewedAt = _time.GetUtcNow(), LastDirtyAt = _time.GetUtcNow(),
    };

    [Fact]
    public void Register_HandsTheAgentCoreAMeshInstance()
    {
        _eureka.Register(Orders());

        var registration = _agent.Find("orders-1@shop-1");
        Assert.NotNull(registration);
        Assert.Equal(("orders", RegistrationSource.Eureka, HealthStatus.Healthy, "shop-1"), (registration.Service, registration.Source, registration.Health, registration.Node));
    }

    [Fact]
    public void Conflict_IdHeldByTheConsulApi_IsRefused()
    {
        _agent.Upsert(new Mesh.Core.Registry.Registration { InstanceId = "web@shop-1", Service = "web", Address = "127.0.0.1", Port = 80, Source = RegistrationSource.Consul });

        Assert.Contains("through its Consul API", _eureka.Conflict("web"), StringComparison.Ordinal);
        Assert.Null(_eureka.Conflict("orders-1"));
    }

    [Fact]
    public void Evict_NoRenewalForDurationInSecs_RemovesIt_RenewedOnesStay()
    {
        _eureka.Register(Orders("orders-1"));
        _eureka.Register(Orders("orders-2"));

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(_eureka.Renew("ORDERS", "orders-2", null));
        _time.Advance(TimeSpan.FromSeconds(1.5));
        _eureka.Evict();

        Assert.Null(_agent.Find("orders-1@shop-1"));
        Assert.False(_eureka.Renew("orders", "orders-1", null));
        Assert.NotNull(_agent.Find("orders-2@shop-1"));
    }

    [Fact]
    public void Override_OutOfService_UnhealthyInTheMesh_SurvivesReRegistration_UntilCleared()
    {
        _eureka.Register(Orders());

        Assert.True(_eureka.Override("ORDERS", "orders-1", EurekaStatus.OutOfService));
        Assert.Equal(HealthStatus.Unhealthy, _agent.Find("orders-1@shop-1")!.Health);
        _eureka.Register(Orders());
        Assert.Equal(EurekaStatus.OutOfService, _eureka.Find("ORDERS", "orders-1")!.EffectiveStatus);

        Assert.True(_eureka.Override("ORDERS", "orders-1", null));
        Assert.Equal(HealthStatus.Healthy, _agent.Find("orders-1@shop-1")!.Health);
    }

    [Fact]
    public void Renew_WithStatus_BecomesTheReportedStatus()
    {
        _eureka.Register(Orders());

        Assert.True(_eureka.Renew("ORDERS", "orders-1", EurekaStatus.Down));

        Assert.Equal(HealthStatus.Unhealthy, _agent.Find("orders-1@shop-1")!.Health);
        Assert.False(_eureka.Renew("BILLING", "orders-1", null));
    }

    [Fact]
    public void View_OwnRegistrationsAsRegistered_OthersFromTheMesh_CancelledOnesHidden_OtherNamespacesLeftOut()
    {
        _eureka.Register(Orders("orders-1"));
        _eureka.Register(Orders("orders-2"));
        _eureka.Override("ORDERS", "orders-1", EurekaStatus.OutOfService);
        _eureka.Cancel("ORDERS", "orders-2");
        Instance[] snapshot =
        [
            new("orders-1@shop-1", "orders", "default", RegistrationSource.Eureka, "shop-1", HealthStatus.Unhealthy),
            new("orders-2@shop-1", "orders", "default", RegistrationSource.Eureka, "shop-1", HealthStatus.Healthy),
            new("orders-9@caller-1", "orders", "default", RegistrationSource.Eureka, "caller-1", HealthStatus.Healthy),
            new("reviews-1", "reviews", "default", RegistrationSource.Sidecar, null, HealthStatus.Unhealthy),
            new("elsewhere-1", "reviews", "prod", RegistrationSource.Sidecar, null, HealthStatus.Healthy),
        ];
        Apply(snapshot);

        var (view, version) = _eureka.View();

        Assert.Equal(7, version);
        Assert.Equal([("ORDERS", "orders-1", "OUT_OF_SERVICE"), ("ORDERS", "orders-9@caller-1", "UP"), ("REVIEWS", "reviews-1", "DOWN")],
            view.Select(i => (i.App, i.InstanceId, i.EffectiveStatus)).Order());
    }

    private sealed record Instance(string Id, string Service, string Namespace, RegistrationSource Source, string? Node, HealthStatus Health);

    private void Apply(Instance[] instances) =>
        _host.Apply(7, [.. instances.Select(i => new ServiceInstance
        {
            InstanceId = i.Id, Service = i.Service, Namespace = i.Namespace, Address = "127.0.0.1", Port = 8080, Source = i.Source, Node = i.Node, Health = i.Health,
        })]);

    public void Dispose() => _host.Dispose();
}
