using Mesh.ControlPlane.Distribution;
using Mesh.ControlPlane.Distribution.Etcd;

namespace Mesh.ControlPlane.Tests.Distribution;

public sealed class EtcdProxyStatusShareTests
{
    private static readonly DateTimeOffset T = DateTimeOffset.Parse("2026-12-04T01:00:00Z");

    private static ProxyStatus Entry(string node, string replica, bool connected, int secondsAgo, string status = "SYNCED") =>
        new(node, "ratings", "default", 7, 7, status, null, T.AddSeconds(-secondsAgo), connected, replica);

    [Fact]
    public void Merge_SidecarListedByTwoReplicas_TheConnectedOneWins_EvenIfSeenEarlier()
    {
        var merged = EtcdProxyStatusShare.Merge([Entry("r-1", "a:1", connected: false, secondsAgo: 1, "DISCONNECTED"), Entry("r-1", "b:1", connected: true, secondsAgo: 5)]);

        var only = Assert.Single(merged);
        Assert.Equal("b:1", only.Replica);
        Assert.Equal("SYNCED", only.Status);
    }

    [Fact]
    public void Merge_ConnectedOnBoth_TheOneSeenLastWins()
    {
        // A replica killed a moment ago still has its list in etcd until its lease runs out.
        var merged = EtcdProxyStatusShare.Merge([Entry("r-1", "a:1", connected: true, secondsAgo: 3), Entry("r-1", "c:1", connected: true, secondsAgo: 0)]);

        Assert.Equal("c:1", Assert.Single(merged).Replica);
    }

    [Fact]
    public void Merge_DifferentSidecars_EachOnce_InNodeOrder()
    {
        var merged = EtcdProxyStatusShare.Merge([Entry("z-1", "a:1", true, 0), Entry("b-1", "b:1", true, 0), Entry("m-1", "a:1", true, 0)]);

        Assert.Equal(["b-1", "m-1", "z-1"], merged.Select(p => p.Node));
    }
}
