using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Routing;

/// <summary>sourceLabels and sourceNamespace: a match block for other callers does not exist for this one.</summary>
public sealed class SourceMatchTests
{
    private const string Yaml = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - name: canary-callers
            match:
            - sourceLabels: {version: v2}
            - sourceNamespace: staging
              uri: {prefix: /api}
            route:
            - destination: {host: reviews, subset: v2}
          - name: everyone
            route:
            - destination: {host: reviews, subset: v1}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
        """;

    private static string? RuleFor(string ns, Dictionary<string, string> labels, string path)
    {
        var loaded = ConfigLoader.Load([("t.yaml", Yaml)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var instance = new ServiceInstance { InstanceId = "r1", Service = "reviews", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy };
        var table = RouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = [instance] }, ns, callerLabels: labels);
        Assert.True(table.TryGetHost(ns == "default" ? "reviews" : "reviews.default", out var routes));
        return routes.Match(new TestRequest(path))?.Name;
    }

    [Theory]
    [InlineData("default", "v2", "/", "canary-callers")]
    [InlineData("default", "v1", "/", "everyone")]
    [InlineData("default", null, "/api/x", "everyone")]
    [InlineData("staging", "v1", "/api/x", "canary-callers")]
    [InlineData("staging", "v1", "/other", "everyone")]
    public void OnlyTheNamedCallers_MatchTheBlock(string ns, string? version, string path, string expected)
    {
        var labels = version is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["version"] = version };
        Assert.Equal(expected, RuleFor(ns, labels, path));
    }

    [Fact]
    public void ABadSourceNamespace_IsAnErrorAtItsPosition()
    {
        var loaded = ConfigLoader.Load([("t.yaml", Yaml.Replace("sourceNamespace: staging", "sourceNamespace: Staging_1"))]);
        var error = Assert.Single(loaded.Errors);
        Assert.Equal("spec.http[0].match[1].sourceNamespace", error.Path);
        Assert.Contains("'Staging_1' is not a namespace", error.Message, StringComparison.Ordinal);
    }
}
