using System.Text.Json;
using Mesh.Core.Registry;
using Mesh.Sidecar.Discovery;

namespace Mesh.Sidecar.Tests.Discovery;

public sealed class EurekaJsonTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    // What eureka-js-client 4.5.0 sends (its config.instance), with Jackson's @class keys as Java clients add them.
    private const string JsClientBody = """
        {"instance": {
          "instanceId": "orders-1", "app": "ORDERS", "hostName": "orders.local", "ipAddr": "10.0.0.7", "status": "UP",
          "port": {"$": 8080, "@enabled": true}, "securePort": {"$": 8443, "@enabled": "false"},
          "vipAddress": "orders", "statusPageUrl": "http://10.0.0.7:8080/info",
          "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
          "leaseInfo": {"renewalIntervalInSecs": 5, "durationInSecs": 15},
          "metadata": {"@class": "java.util.HashMap", "zone": "z1", "version": "v2", "weight": 3}
        }}
        """;

    [Fact]
    public void ParseRegistration_JsClientBody_KeepsEveryField()
    {
        var (instance, errors) = Parse(JsClientBody, "orders");

        Assert.Empty(errors);
        Assert.NotNull(instance);
        Assert.Equal(("orders-1", "ORDERS", "orders.local", "10.0.0.7", 8080), (instance.InstanceId, instance.App, instance.HostName, instance.IpAddr, instance.Port));
        Assert.False(instance.SecurePortEnabled);
        Assert.Equal((5, 15), (instance.RenewalIntervalInSecs, instance.DurationInSecs));
        Assert.Equal(new Dictionary<string, string> { ["zone"] = "z1", ["version"] = "v2", ["weight"] = "3" }, instance.Metadata);
        Assert.Equal(Now + TimeSpan.FromSeconds(15), instance.LeaseExpiresAt);
    }

    [Fact]
    public void ToRegistration_MapsAppToLowerCaseService_StatusToHealth_MetadataToLabels()
    {
        var instance = Parse(JsClientBody, "ORDERS").Instance!;

        var registration = instance.ToRegistration("orders-1@shop-1", "default");

        Assert.Equal(("orders-1@shop-1", "orders", "default", "10.0.0.7", 8080), (registration.InstanceId, registration.Service, registration.Namespace, registration.Address, registration.Port));
        Assert.Equal(RegistrationSource.Eureka, registration.Source);
        Assert.Equal(HealthStatus.Healthy, registration.Health);
        Assert.Equal("z1", registration.Zone);
        Assert.Equal("v2", registration.Labels["version"]);
        foreach (var status in new[] { EurekaStatus.Down, EurekaStatus.OutOfService, EurekaStatus.Starting, EurekaStatus.Unknown })
        {
            Assert.Equal(HealthStatus.Unhealthy, (instance with { Status = status }).ToRegistration("x", "default").Health);
        }
        // An operator's override wins over the status the client reports.
        Assert.Equal(HealthStatus.Unhealthy, (instance with { OverriddenStatus = EurekaStatus.OutOfService }).ToRegistration("x", "default").Health);
    }

    [Fact]
    public void ParseRegistration_AmazonDataCenter_ZoneFromAvailabilityZone()
    {
        var (instance, _) = Parse("""
            {"instance": {"app": "web", "hostName": "h", "port": 80,
              "dataCenterInfo": {"@class": "com.netflix.appinfo.AmazonInfo", "name": "Amazon", "metadata": {"availability-zone": "eu-west-1a"}}}}
            """, "WEB");

        Assert.Equal("eu-west-1a", instance!.Zone);
        Assert.Equal(("h", "h", "WEB"), (instance.InstanceId, instance.IpAddr, instance.App));
    }

    [Fact]
    public void ParseRegistration_ManyProblems_ReportsEachWithItsField()
    {
        var (instance, errors) = Parse("""
            {"instance": {"app": "MY_APP", "status": "SLEEPING", "port": {"$": 70000},
              "leaseInfo": {"durationInSecs": -1}, "metadata": {"nested": {"a": 1}}}}
            """, "MY_APP");

        Assert.Null(instance);
        Assert.Contains(errors, e => e.StartsWith("instance.app: 'MY_APP' lower-cased ('my_app')", StringComparison.Ordinal) && e.Contains("DNS label", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("instance.hostName and instance.ipAddr:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("instance.port: '70000'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("instance.status: 'SLEEPING'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("instance.leaseInfo.durationInSecs:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("instance.metadata.nested:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"app": "ORDERS"}""", "the body must be a JSON object {\"instance\"")]
    [InlineData("""{"instance": {"app": "BILLING", "hostName": "h", "port": 80}}""", "instance.app: 'BILLING' differs from the app in the path 'ORDERS'")]
    [InlineData("""{"instance": {"hostName": "h", "port": {"$": 80, "@enabled": "false"}}}""", "instance.port: '@enabled' is false")]
    [InlineData("""{"instance": {"instanceId": "a@b", "hostName": "h", "port": 80}}""", "instance.instanceId: 'a@b' may not contain '@'")]
    public void ParseRegistration_Invalid_SaysWhatAndWhere(string body, string expected)
    {
        var (instance, errors) = Parse(body, "ORDERS");

        Assert.Null(instance);
        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Instance_RendersEurekasShapes()
    {
        var instance = Parse(JsClientBody, "ORDERS").Instance! with { OverriddenStatus = EurekaStatus.OutOfService };

        var json = JsonDocument.Parse(EurekaJson.Instance(instance).ToJsonString()).RootElement;

        Assert.Equal("OUT_OF_SERVICE", json.GetProperty("status").GetString());
        Assert.Equal("OUT_OF_SERVICE", json.GetProperty("overriddenStatus").GetString());
        Assert.Equal("OUT_OF_SERVICE", json.GetProperty("overriddenstatus").GetString());
        Assert.Equal(8080, json.GetProperty("port").GetProperty("$").GetInt32());
        Assert.Equal("true", json.GetProperty("port").GetProperty("@enabled").GetString());
        Assert.Equal("false", json.GetProperty("securePort").GetProperty("@enabled").GetString());
        Assert.Equal(15, json.GetProperty("leaseInfo").GetProperty("durationInSecs").GetInt32());
        Assert.Equal(Now.ToUnixTimeMilliseconds(), json.GetProperty("leaseInfo").GetProperty("registrationTimestamp").GetInt64());
        Assert.Equal(Now.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), json.GetProperty("lastDirtyTimestamp").GetString());
        Assert.Equal("v2", json.GetProperty("metadata").GetProperty("version").GetString());
        Assert.Equal("ADDED", json.GetProperty("actionType").GetString());
        Assert.Equal("orders", json.GetProperty("vipAddress").GetString());
    }

    [Fact]
    public void Applications_GroupsByApp_WithVersionAndHashCode()
    {
        var up = Parse(JsClientBody, "ORDERS").Instance!;
        var instances = new[] { up, up with { InstanceId = "orders-2" }, up with { InstanceId = "orders-3", Status = EurekaStatus.Down }, up with { App = "BILLING" } };

        var hash = EurekaJson.HashCode(instances);
        var json = JsonDocument.Parse(EurekaJson.Applications(instances.Select(i => (i, EurekaJson.Added)), 42, hash).ToJsonString()).RootElement.GetProperty("applications");

        Assert.Equal("DOWN_1_UP_3_", hash);
        Assert.Equal("42", json.GetProperty("versions__delta").GetString());
        Assert.Equal("DOWN_1_UP_3_", json.GetProperty("apps__hashcode").GetString());
        Assert.Equal(["BILLING", "ORDERS"], json.GetProperty("application").EnumerateArray().Select(a => a.GetProperty("name").GetString()));
        Assert.Equal(3, json.GetProperty("application")[1].GetProperty("instance").GetArrayLength());
    }

    [Fact]
    public void FromMesh_SidecarInstance_UpWhenHealthy_LabelsAndLocalityAsMetadata()
    {
        var instance = new ServiceInstance
        {
            InstanceId = "reviews-1", Service = "reviews", Address = "10.0.0.9", Port = 15006, Zone = "z2", Region = "r1",
            Labels = new Dictionary<string, string> { ["version"] = "v1" }, Health = HealthStatus.Healthy, Source = RegistrationSource.Sidecar,
        };

        var healthy = EurekaView.FromMesh(instance);
        var json = JsonDocument.Parse(EurekaJson.Instance(healthy).ToJsonString()).RootElement;

        Assert.Equal(("REVIEWS", "UP", "reviews"), (healthy.App, healthy.EffectiveStatus, healthy.VipAddress));
        Assert.Equal("v1", json.GetProperty("metadata").GetProperty("version").GetString());
        Assert.Equal("z2", json.GetProperty("metadata").GetProperty("zone").GetString());
        Assert.Equal("sidecar", json.GetProperty("metadata").GetProperty("mesh.source").GetString());
        Assert.Equal(15006, json.GetProperty("port").GetProperty("$").GetInt32());
        foreach (var health in new[] { HealthStatus.Unhealthy, HealthStatus.Unknown, HealthStatus.Draining })
        {
            Assert.Equal(EurekaStatus.Down, EurekaView.FromMesh(instance with { Health = health }).EffectiveStatus);
        }
    }

    [Fact]
    public void Instance_EmptyMetadata_IsJacksonsEmptyMap()
    {
        var instance = Parse("""{"instance": {"hostName": "h", "port": 80}}""", "WEB").Instance!;

        var json = JsonDocument.Parse(EurekaJson.Instance(instance).ToJsonString()).RootElement;

        Assert.Equal("java.util.Collections$EmptyMap", json.GetProperty("metadata").GetProperty("@class").GetString());
    }

    private static (EurekaInstance? Instance, IReadOnlyList<string> Errors) Parse(string body, string app)
    {
        using var doc = JsonDocument.Parse(body);
        return EurekaJson.ParseRegistration(doc.RootElement, app, Now);
    }
}
