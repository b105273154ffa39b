using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Registry;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.ControlPlane.Tests.Registry;

public sealed class LapseScheduleTests
{
    private static readonly RegistryOptions Options = new() { LeaseTtl = TimeSpan.FromSeconds(8), RestoreGrace = TimeSpan.FromSeconds(10) };

    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-04T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void Orphaned_DueOnlyAfterTheRestoreGrace_ThenOnce()
    {
        var schedule = new LapseSchedule(Options, _time);
        schedule.Orphaned("a");
        _time.Advance(Options.RestoreGrace - TimeSpan.FromMilliseconds(1));
        Assert.Empty(schedule.TakeDue());
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["a"], schedule.TakeDue());
        Assert.Empty(schedule.TakeDue());
    }

    [Fact]
    public void Orphaned_Again_KeepsTheFirstDeadline()
    {
        // A live key gone twice (the sweeper's stock-taking and a late watch event) must not push the removal back.
        var schedule = new LapseSchedule(Options, _time);
        schedule.Orphaned("a");
        _time.Advance(TimeSpan.FromSeconds(6));
        schedule.Orphaned("a");
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(["a"], schedule.TakeDue());
    }

    [Fact]
    public void Renewed_OrphanWhoseSidecarHeartbeatsThroughAnotherReplica_NeverDue()
    {
        var schedule = new LapseSchedule(Options, _time);
        schedule.Orphaned("a");
        schedule.Orphaned("b");
        schedule.Renewed("a");
        Assert.Equal(1, schedule.Pending);
        _time.Advance(Options.RestoreGrace);
        Assert.Equal(["b"], schedule.TakeDue());
    }

    [Fact]
    public void Retry_AfterAFailedRemoval_DueAgainAtOnce()
    {
        var schedule = new LapseSchedule(Options, _time);
        schedule.Orphaned("a");
        _time.Advance(Options.RestoreGrace);
        Assert.Equal(["a"], schedule.TakeDue());
        schedule.Retry("a");
        Assert.Equal(["a"], schedule.TakeDue());
    }
}
