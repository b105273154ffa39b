using Mesh.Core.Registry;

namespace Mesh.Core.Tests.Registry;

public sealed class MassExpiryGuardTests
{
    private static readonly RegistryOptions Options = new()
    {
        LeaseTtl = TimeSpan.FromSeconds(8),
        HeartbeatInterval = TimeSpan.FromSeconds(2),
        MassExpiryThreshold = 0.25,
        MassExpiryMinimum = 10,
        MassExpiryHold = TimeSpan.FromSeconds(30),
    };

    private static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-12-04T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void LateAfter_TwoIntervals_OrHalfTheTtl_AlwaysUnderTheTtl()
    {
        Assert.Equal(TimeSpan.FromSeconds(4), MassExpiryGuard.LateAfter(Options));
        Assert.Equal(TimeSpan.FromSeconds(15), MassExpiryGuard.LateAfter(Options with { LeaseTtl = TimeSpan.FromSeconds(30) }));
        Assert.Equal(TimeSpan.FromSeconds(6), MassExpiryGuard.LateAfter(Options with { HeartbeatInterval = TimeSpan.FromSeconds(3) }));
        // An interval as long as the TTL (a misconfiguration the flags allow): late still comes before the lapse.
        Assert.Equal(TimeSpan.FromSeconds(4), MassExpiryGuard.LateAfter(Options with { HeartbeatInterval = TimeSpan.FromSeconds(8) }));
    }

    [Fact]
    public void ALoneLapse_AmongHealthyRenewals_Expires()
    {
        var guard = new MassExpiryGuard(Options);
        Assert.True(guard.MayExpire(T0, lapsed: 1, late: 0, total: 100));
        Assert.Null(guard.Hold);
    }

    [Fact]
    public void FewLapsed_ButManyLate_Held_BeforeTheLateOnesRunOut()
    {
        // An overloaded control plane: 2 leases ran out and 40 of 100 have not been renewed for two intervals.
        // Counting lapses alone (2 of 100) would expire these two now and the next 23 after them.
        var guard = new MassExpiryGuard(Options);
        Assert.False(guard.MayExpire(T0, lapsed: 2, late: 40, total: 100));
        Assert.Equal(new LeaseHold(T0, 2, 100, 0, 40), guard.Hold);
    }

    [Fact]
    public void TheSameCount_Late_UnderTheThreshold_NotHeld()
    {
        var guard = new MassExpiryGuard(Options);
        Assert.True(guard.MayExpire(T0, lapsed: 2, late: 20, total: 100)); // 22% < 25%
        Assert.Null(guard.Hold);
    }

    [Fact]
    public void UnderTheMinimum_NeverHeld_AndThresholdOneTurnsItOff()
    {
        Assert.True(new MassExpiryGuard(Options).MayExpire(T0, lapsed: 4, late: 5, total: 9));
        Assert.True(new MassExpiryGuard(Options with { MassExpiryThreshold = 1 }).MayExpire(T0, lapsed: 20, late: 20, total: 40));
    }

    [Fact]
    public void Expiries_CountedOverOneTtl_AHoldLastsUntilItsTimeIsUp()
    {
        var guard = new MassExpiryGuard(Options);
        // Lapses a few at a time (a partition, heartbeats already late counted nowhere): 4, 4, then 4 more
        // make 12 within a TTL, over the minimum and 25% of 40.
        Assert.True(guard.MayExpire(T0, lapsed: 4, late: 0, total: 40));
        Assert.True(guard.MayExpire(T0.AddSeconds(1), lapsed: 4, late: 0, total: 36));
        Assert.False(guard.MayExpire(T0.AddSeconds(2), lapsed: 4, late: 0, total: 32));
        Assert.Equal(new LeaseHold(T0.AddSeconds(2), 4, 40, 8, 0), guard.Hold);

        // The first expiries leave the window; the hold stays until 30 s after it began.
        Assert.False(guard.MayExpire(T0.AddSeconds(31.9), lapsed: 4, late: 0, total: 32));
        Assert.True(guard.MayExpire(T0.AddSeconds(32), lapsed: 4, late: 0, total: 32));
        Assert.Null(guard.Hold);
    }

    [Fact]
    public void NothingLapsed_EndsAHold()
    {
        var guard = new MassExpiryGuard(Options);
        Assert.False(guard.MayExpire(T0, lapsed: 20, late: 0, total: 40));
        Assert.True(guard.MayExpire(T0.AddSeconds(1), lapsed: 0, late: 0, total: 40)); // every held lease renewed
        Assert.Null(guard.Hold);
        Assert.True(guard.MayExpire(T0.AddSeconds(2), lapsed: 1, late: 0, total: 40));
    }
}
