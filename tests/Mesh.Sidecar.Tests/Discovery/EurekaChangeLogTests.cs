using Mesh.Sidecar.Discovery;

namespace Mesh.Sidecar.Tests.Discovery;

public sealed class EurekaChangeLogTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);
    private static readonly EurekaInstance A = new() { InstanceId = "a", App = "WEB", HostName = "h", IpAddr = "h", Port = 1 };
    private static readonly EurekaInstance B = A with { InstanceId = "b", Port = 2 };

    [Fact]
    public void Observe_FirstView_IsTheBaseline()
    {
        Assert.Empty(new EurekaChangeLog().Observe([A, B], Start));
    }

    [Fact]
    public void Observe_AddedModifiedDeleted_LatestChangeOfEach()
    {
        var log = new EurekaChangeLog();
        log.Observe([A], Start);

        log.Observe([A, B], Start.AddSeconds(1));
        var changes = log.Observe([B with { Status = EurekaStatus.Down }], Start.AddSeconds(2));

        Assert.Equal([("a", EurekaJson.Deleted), ("b", EurekaJson.Modified)], changes.Select(c => (c.Instance.InstanceId, c.Action)).Order());
        Assert.Equal(EurekaStatus.Down, changes.Single(c => c.Instance.InstanceId == "b").Instance.EffectiveStatus);
    }

    [Fact]
    public void Observe_AfterRetention_ForgetsChanges()
    {
        var log = new EurekaChangeLog();
        log.Observe([A], Start);
        log.Observe([A, B], Start.AddSeconds(1));

        Assert.Single(log.Observe([A, B], Start.AddSeconds(1) + EurekaChangeLog.Retention));
        Assert.Empty(log.Observe([A, B], Start.AddSeconds(2) + EurekaChangeLog.Retention));
    }

    [Fact]
    public void Observe_UnchangedInstance_RecordsNothing()
    {
        var log = new EurekaChangeLog();
        log.Observe([A], Start);

        // A renewal moves timestamps only: not a change clients need.
        Assert.Empty(log.Observe([A with { LastRenewedAt = Start.AddSeconds(30) }], Start.AddSeconds(30)));
    }
}
