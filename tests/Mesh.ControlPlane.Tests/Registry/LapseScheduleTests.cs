using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Registry;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.ControlPlane.Tests.Registry;

public sealed class LapseScheduleTests
{
    private static readonly RegistryOptions Options = new()
    {
        LeaseTtl = TimeSpan.FromSeconds(8),
        RestoreGrace = TimeSpan.FromSeconds(10),
        MassExpiryThreshold = 0.25,
        MassExpiryMinimum = 10,
        MassExpiryHold = TimeSpan.FromSeconds(30),
    };

    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-04T00:00:00Z"));

    [Fact]
    public void Lapsed_FewOfMany_DueAtOnce()
    {
        var schedule = new LapseSchedule(Options, _time);
        Assert.False(schedule.Lapsed("a", total: 100));
        Assert.Equal(["a"], schedule.TakeDue());
        Assert.Empty(schedule.TakeDue());
    }

    [Fact]
    public void Orphaned_OnTakingOffice_DueOnlyAfterTheRestoreGrace()
    {
        var schedule = new LapseSchedule(Options, _time);
        schedule.Orphaned("a");
        _time.Advance(Options.RestoreGrace - TimeSpan.FromMilliseconds(1));
        Assert.Empty(schedule.TakeDue());
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["a"], schedule.TakeDue());
    }

    [Fact]
    public void Renewed_OrphanThatHeartbeats_NeverDue()
    {
        var schedule = new LapseSchedule(Options, _time);
        schedule.Orphaned("a");
        schedule.Orphaned("b");
        schedule.Renewed("a");
        _time.Advance(Options.RestoreGrace);
        Assert.Equal(["b"], schedule.TakeDue());
    }

    [Fact]
    public void Lapsed_MoreThanThresholdWithinOneTtl_HeldForTheHold_ThenAllDue()
    {
        var schedule = new LapseSchedule(Options, _time);
        var started = Enumerable.Range(0, 13).Select(i => schedule.Lapsed($"i{i}", total: 40)).ToList();
        // Ten of forty is not more than 25%: the first ten go at once; the eleventh starts the hold.
        Assert.Equal(10, started.IndexOf(true));
        Assert.Single(started, s => s);
        Assert.Equal(10, schedule.TakeDue().Count);
        _time.Advance(Options.MassExpiryHold - TimeSpan.FromSeconds(1));
        schedule.Renewed("i12"); // a late heartbeat during the hold keeps its instance
        Assert.Empty(schedule.TakeDue());
        Assert.NotNull(schedule.HeldUntil);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["i10", "i11"], schedule.TakeDue().Order(StringComparer.Ordinal));
        Assert.Null(schedule.HeldUntil);
    }

    [Fact]
    public void Lapsed_SpreadOverMoreThanOneTtl_NoHold()
    {
        var schedule = new LapseSchedule(Options, _time);
        for (var i = 0; i < 20; i++)
        {
            Assert.False(schedule.Lapsed($"i{i}", total: 40));
            _time.Advance(Options.LeaseTtl / 4); // four per TTL: never ten within one
        }
        Assert.Equal(20, schedule.TakeDue().Count);
    }

    [Fact]
    public void Lapsed_ThresholdOne_NeverHolds()
    {
        var schedule = new LapseSchedule(Options with { MassExpiryThreshold = 1 }, _time);
        Assert.DoesNotContain(true, Enumerable.Range(0, 40).Select(i => schedule.Lapsed($"i{i}", total: 40)));
        Assert.Equal(40, schedule.TakeDue().Count);
    }

    [Fact]
    public void Retry_AfterAFailedRemoval_DueAgainAtOnce()
    {
        var schedule = new LapseSchedule(Options, _time);
        schedule.Lapsed("a", total: 100);
        Assert.Equal(["a"], schedule.TakeDue());
        schedule.Retry("a");
        Assert.Equal(["a"], schedule.TakeDue());
    }
}
