using Mesh.ControlPlane.Config.History;

namespace Mesh.ControlPlane.Tests.Config.History;

public sealed class ConfigDiffTests
{
    private static HistoryResource R(string kind, string name, string yaml, string source = "routing.yaml") =>
        new(kind, "default", name, source, HistoryResource.DirectoryLayer, yaml);

    [Fact]
    public void Between_NamesAddedRemovedAndChangedResources_AndLeavesOutUnchangedOnes()
    {
        var vs1 = "kind: VirtualService\nspec:\n  hosts: [reviews]\n  http:\n  - route: [{destination: {host: reviews, subset: v1}}]\n";
        var vs2 = vs1.Replace("subset: v1", "subset: v2", StringComparison.Ordinal);
        var from = new[] { R("VirtualService", "reviews", vs1), R("DestinationRule", "reviews", "kind: DestinationRule\n"), R("ServiceEntry", "old", "kind: ServiceEntry\n") };
        var to = new[] { R("VirtualService", "reviews", vs2), R("DestinationRule", "reviews", "kind: DestinationRule\n", source: "applied/x.yaml"), R("Gateway", "edge", "kind: Gateway\n") };

        var diffs = ConfigDiff.Between(from, to, 4, 7);

        Assert.Equal(["Gateway edge added", "ServiceEntry old removed", "VirtualService reviews changed"], diffs.Select(d => $"{d.Kind} {d.Name} {d.Change}"));
        var changed = diffs.Single(d => d.Change == "changed").Diff;
        Assert.Equal(
            "--- v4/virtualservice.default.reviews.yaml\n+++ v7/virtualservice.default.reviews.yaml\n@@ -2,4 +2,4 @@\n spec:\n   hosts: [reviews]\n   http:\n-  - route: [{destination: {host: reviews, subset: v1}}]\n+  - route: [{destination: {host: reviews, subset: v2}}]\n",
            changed.ReplaceLineEndings("\n"));
        Assert.Contains("+kind: Gateway", diffs.Single(d => d.Change == "added").Diff, StringComparison.Ordinal);
        Assert.Contains("-kind: ServiceEntry", diffs.Single(d => d.Change == "removed").Diff, StringComparison.Ordinal);
        Assert.Null(diffs.Single(d => d.Change == "added").FromSource);
    }

    [Fact]
    public void Between_TheSameResources_IsEmpty() =>
        Assert.Empty(ConfigDiff.Between([R("VirtualService", "a", "x: 1\n")], [R("VirtualService", "a", "x: 1\n")], 1, 2));

    [Fact]
    public void ChangeSummary_CountsByKindNamespaceAndName()
    {
        var summary = ChangeSummary.Between([R("VirtualService", "a", "x: 1\n"), R("VirtualService", "b", "x: 1\n")], [R("VirtualService", "a", "x: 2\n"), R("VirtualService", "c", "x: 1\n")]);
        Assert.Equal(["VirtualService default/c"], summary.Added);
        Assert.Equal(["VirtualService default/b"], summary.Removed);
        Assert.Equal(["VirtualService default/a"], summary.Changed);
    }
}
