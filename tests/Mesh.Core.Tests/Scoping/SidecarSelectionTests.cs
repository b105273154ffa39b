using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Scoping;

namespace Mesh.Core.Tests.Scoping;

/// <summary>Which Sidecar applies to a workload: selector in its namespace, then its namespace's, then the root's; first wins.</summary>
public sealed class SidecarSelectionTests
{
    private static readonly Dictionary<string, string> V1 = new() { ["version"] = "v1" };
    private static readonly Dictionary<string, string> V2 = new() { ["version"] = "v2" };

    private static ConfigSet Config(params (string Ns, string Name, string? Selector)[] sidecars)
    {
        var yaml = string.Join("\n---\n", sidecars.Select(s => $$"""
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: {{s.Name}}, namespace: {{s.Ns}}}
            spec:
            {{(s.Selector is null ? "" : $"  workloadSelector: {{labels: {{{s.Selector}}}}}\n")}}  egress: [{hosts: [./*]}]
            """));
        var result = ConfigLoader.Load([("sidecars.yaml", yaml)]);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        return result.Config!;
    }

    private static string? Picked(ConfigSet config, string ns, string service, Dictionary<string, string> labels) =>
        SidecarSelection.For(config, ns, service, labels) is { } s ? $"{s.Metadata.Namespace}/{s.Metadata.Name}" : null;

    [Fact]
    public void For_NoSidecar_IsNull_EverythingVisible()
    {
        Assert.Null(Picked(ConfigSet.Empty, "default", "reviews", V1));
    }

    [Fact]
    public void For_SelectorBeatsNamespaceWideBeatsRootDefault()
    {
        var config = Config(("istio-system", "mesh-default", null), ("default", "ns-default", null), ("default", "reviews-v2", "version: v2"));

        Assert.Equal("default/reviews-v2", Picked(config, "default", "reviews", V2));
        Assert.Equal("default/ns-default", Picked(config, "default", "reviews", V1));
        Assert.Equal("istio-system/mesh-default", Picked(config, "prod", "reviews", V2));
    }

    [Fact]
    public void For_SelectorOnApp_MatchesTheServiceName()
    {
        // app is the service unless the sidecar was given another --label app=..., as for policies.
        var config = Config(("default", "ratings-only", "app: ratings"));

        Assert.Equal("default/ratings-only", Picked(config, "default", "ratings", V1));
        Assert.Null(Picked(config, "default", "reviews", V1));
        Assert.Null(Picked(config, "default", "ratings", new() { ["app"] = "other" }));
    }

    [Fact]
    public void For_SelectorInAnotherNamespace_DoesNotApply()
    {
        var config = Config(("prod", "prod-v2", "version: v2"));

        Assert.Null(Picked(config, "default", "reviews", V2));
        Assert.Equal("prod/prod-v2", Picked(config, "prod", "reviews", V2));
    }

    [Fact]
    public void For_RootNamespaceSelector_AppliesOnlyInTheRootNamespace()
    {
        var config = Config(("istio-system", "gw", "version: v2"));

        Assert.Null(Picked(config, "default", "reviews", V2));
        Assert.Equal("istio-system/gw", Picked(config, "istio-system", "reviews", V2));
    }

    [Fact]
    public void For_TwoMatchAtOneLevel_TheFirstInConfigOrderWins()
    {
        var config = Config(("default", "first", "version: v2"), ("default", "second", "app: reviews"),
            ("default", "ns-first", null), ("default", "ns-second", null));

        Assert.Equal("default/first", Picked(config, "default", "reviews", V2));
        Assert.Equal("default/second", Picked(config, "default", "reviews", V1));
        Assert.Equal("default/ns-first", Picked(config, "default", "ratings", V1));
    }
}
