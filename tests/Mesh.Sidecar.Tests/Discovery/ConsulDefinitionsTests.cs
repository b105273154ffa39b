using System.Text.Json;
using Mesh.Sidecar.Discovery;

namespace Mesh.Sidecar.Tests.Discovery;

public sealed class ConsulDefinitionsTests
{
    private static (ConsulServiceDefinition? Service, IReadOnlyList<string> Errors) Parse(string json) =>
        ConsulDefinitions.ParseService(JsonDocument.Parse(json).RootElement, "10.0.0.5", "zone-a", "region-1");

    [Fact]
    public void ReadsFieldsInAnyCase_AsPythonConsulAndNodeConsulSendThem()
    {
        var (lower, _) = Parse("""{"name":"web","id":"web-1","port":8080,"tags":["v1"],"check":{"http":"http://127.0.0.1:8080/health","interval":"10s","DeregisterCriticalServiceAfter":"1m"}}""");
        var (pascal, _) = Parse("""{"Name":"web","ID":"web-1","Port":8080,"Tags":["v1"],"Check":{"HTTP":"http://127.0.0.1:8080/health","Interval":"10s","deregister_critical_service_after":"1m"}}""");
        foreach (var service in new[] { lower!, pascal! })
        {
            Assert.Equal(("web", "web-1", 8080, "10.0.0.5", "zone-a"), (service.Name, service.Id, service.Port, service.Address, service.Zone));
            Assert.Equal(["v1"], service.Tags);
            var check = Assert.Single(service.Checks);
            Assert.Equal(("service:web-1", ConsulCheckKind.Http, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1)), (check.CheckId, check.Kind, check.Interval, check.DeregisterCriticalServiceAfter!.Value));
            Assert.Equal(ConsulStatus.Critical, check.InitialStatus);
            Assert.Equal(TimeSpan.FromSeconds(10), check.Timeout);
        }
    }

    [Fact]
    public void Defaults_AreConsuls_IdIsTheName_ChecksAreNumbered_TimeoutIsCappedByTheInterval()
    {
        var (service, errors) = Parse("""
            {"Name":"api","Port":9,"Meta":{"team":"payments"},"Locality":{"Zone":"z9"},
             "Checks":[{"TCP":"127.0.0.1:9","Interval":"2s"},{"TTL":"30s","Status":"passing"},{"CheckID":"mine","HTTP":"https://x/h","Interval":"20s","Timeout":"3s","Method":"head","Header":{"X-A":["1"]},"TLSSkipVerify":true}]}
            """);
        Assert.Empty(errors);
        Assert.Equal("api", service!.Id);
        Assert.Equal("z9", service.Zone);
        Assert.Equal("payments", service.Meta["team"]);
        Assert.Equal(["service:api:1", "service:api:2", "mine"], service.Checks.Select(c => c.CheckId));
        Assert.Equal(TimeSpan.FromSeconds(2), service.Checks[0].Timeout);
        Assert.Equal((ConsulCheckKind.Ttl, TimeSpan.FromSeconds(30), ConsulStatus.Passing), (service.Checks[1].Kind, service.Checks[1].Ttl, service.Checks[1].InitialStatus));
        Assert.Equal(("HEAD", TimeSpan.FromSeconds(3), true, "1"), (service.Checks[2].Method, service.Checks[2].Timeout, service.Checks[2].TlsSkipVerify, service.Checks[2].Headers["X-A"][0]));
    }

    [Fact]
    public void BadDefinitions_NameEveryProblem_WithItsFieldAndValue()
    {
        var (service, errors) = Parse("""
            {"Name":"Web_1","ID":"a@b","Port":70000,"Tags":"v1","Connect":{"SidecarService":{}},
             "Checks":[{"Args":["/bin/true"],"Interval":"10s"},{"HTTP":"ftp://x","Interval":"1x"},{"TCP":"nohost","Interval":"1s"},{"HTTP":"http://x/h"},{"TTL":"5s","Status":"bogus"}]}
            """);
        Assert.Null(service);
        Assert.Contains("Name: 'Web_1' is not a Mesh service name (a lower-case DNS label: letters, digits, '-')", errors);
        Assert.Contains("ID: 'a@b' may not contain '@', '/' or control characters", errors);
        Assert.Contains("Port: '70000' is not a port number 1-65535", errors);
        Assert.Contains(errors, e => e.StartsWith("Tags: expected a list of strings", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Connect: not implemented", StringComparison.Ordinal));
        Assert.Contains("Checks[0].Args: Args checks are not implemented by Mesh; use HTTP, TCP or TTL", errors);
        Assert.Contains("Checks[1].HTTP: 'ftp://x' is not an http:// or https:// URL", errors);
        Assert.Contains("Checks[1].Interval: '1x' is not a duration like \"10s\" or \"1m\"", errors);
        Assert.Contains("Checks[2].TCP: 'nohost' is not host:port", errors);
        Assert.Contains("Checks[3].Interval: required for HTTP checks (e.g. \"10s\")", errors);
        Assert.Contains("Checks[4].Status: 'bogus' is not passing, warning or critical", errors);
    }

    [Fact]
    public void APortIsRequired_BecauseCallersAreRoutedToAddressAndPort()
    {
        var (_, errors) = Parse("""{"Name":"web"}""");
        Assert.Equal(["Port: required by Mesh (callers are routed to Address:Port)"], errors);
    }
}
