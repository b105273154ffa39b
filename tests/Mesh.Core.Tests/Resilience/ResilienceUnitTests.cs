using Mesh.Core.Config.Model;
using Mesh.Core.Resilience;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Resilience;

public sealed class RetryPolicyTests
{
    [Theory]
    // retryOn, status (0 = none), failure, retried
    [InlineData("5xx", 500, AttemptFailure.None, true)]
    [InlineData("5xx", 503, AttemptFailure.None, true)]
    [InlineData("5xx", 404, AttemptFailure.None, false)]
    [InlineData("5xx", 0, AttemptFailure.ConnectFailure, true)]
    [InlineData("5xx", 0, AttemptFailure.Reset, true)]
    [InlineData("5xx", 0, AttemptFailure.PerTryTimeout, true)]
    [InlineData("gateway-error", 500, AttemptFailure.None, false)]
    [InlineData("gateway-error", 502, AttemptFailure.None, true)]
    [InlineData("gateway-error", 504, AttemptFailure.None, true)]
    [InlineData("gateway-error", 0, AttemptFailure.Reset, false)]
    [InlineData("gateway-error", 0, AttemptFailure.PerTryTimeout, true)]
    [InlineData("reset", 0, AttemptFailure.Reset, true)]
    [InlineData("reset", 503, AttemptFailure.None, false)]
    [InlineData("connect-failure", 0, AttemptFailure.ConnectFailure, true)]
    [InlineData("connect-failure", 0, AttemptFailure.Reset, false)]
    [InlineData("refused-stream", 0, AttemptFailure.RefusedStream, true)]
    [InlineData("retriable-4xx", 409, AttemptFailure.None, true)]
    [InlineData("retriable-4xx", 404, AttemptFailure.None, false)]
    [InlineData("retriable-status-codes", 503, AttemptFailure.None, true)]
    [InlineData("retriable-status-codes,429", 429, AttemptFailure.None, true)]
    [InlineData("retriable-status-codes,429", 503, AttemptFailure.None, false)]
    [InlineData("429", 429, AttemptFailure.None, true)]
    [InlineData("unavailable", 503, AttemptFailure.None, true)]
    public void Conditions_MeanWhatEnvoyMeans(string retryOn, int status, AttemptFailure failure, bool retried)
    {
        var policy = new RetryPolicy(2, null, retryOn);

        var actual = status != 0 ? policy.RetriesStatus(status) : policy.RetriesFailure(failure);

        Assert.Equal(retried, actual);
    }

    [Fact]
    public void For_NoRetriesOnTheRoute_IsIstiosDefault_AndZeroAttemptsIsNone()
    {
        var fallback = RetryPolicy.For(null);
        Assert.Equal(2, fallback.Attempts);
        Assert.True(fallback.RetriesFailure(AttemptFailure.ConnectFailure) && fallback.RetriesStatus(503));
        Assert.False(fallback.RetriesStatus(500) || fallback.RetriesFailure(AttemptFailure.Reset));

        var none = RetryPolicy.For(new HttpRetry { Attempts = 0 });
        Assert.False(none.RetriesStatus(503) || none.RetriesFailure(AttemptFailure.ConnectFailure));

        var custom = RetryPolicy.For(new HttpRetry { Attempts = 3, PerTryTimeout = TimeSpan.FromMilliseconds(200), RetryOn = "5xx" });
        Assert.Equal((3, TimeSpan.FromMilliseconds(200)), (custom.Attempts, custom.PerTryTimeout));
    }
}

public sealed class RetryBudgetTests
{
    [Fact]
    public void Withdraw_AllowsTheMinimumFloorThenTheRatioOfRequests()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(time, ratio: 0.2, minRetriesPerSecond: 1, window: TimeSpan.FromSeconds(10));

        // With no requests, the floor: 1/s over a 10 s window.
        Assert.Equal(10, Enumerable.Range(0, 50).Count(_ => budget.TryWithdraw()));

        // 100 requests earn 20 more.
        for (var i = 0; i < 100; i++)
        {
            budget.RecordRequest();
        }
        Assert.Equal(20, Enumerable.Range(0, 50).Count(_ => budget.TryWithdraw()));
    }

    [Fact]
    public void Window_SlidesSoOldRetriesAndRequestsStopCounting()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(time, ratio: 0.5, minRetriesPerSecond: 0, window: TimeSpan.FromSeconds(10));
        for (var i = 0; i < 10; i++)
        {
            budget.RecordRequest();
        }
        Assert.Equal(5, Enumerable.Range(0, 10).Count(_ => budget.TryWithdraw()));

        time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(budget.TryWithdraw()); // still inside the window: spent

        time.Advance(TimeSpan.FromSeconds(6));
        Assert.False(budget.TryWithdraw()); // the requests left the window too: nothing earned
        budget.RecordRequest();
        budget.RecordRequest();
        Assert.True(budget.TryWithdraw());
        Assert.False(budget.TryWithdraw());
    }
}

public sealed class OutlierDetectorTests
{
    private static OutlierDetector Detector(FakeTimeProvider time, int consecutive = 3, int maxPercent = 50) =>
        new(new OutlierDetection { Consecutive5xxErrors = consecutive, Interval = TimeSpan.FromSeconds(10), BaseEjectionTime = TimeSpan.FromSeconds(30), MaxEjectionPercent = maxPercent }, time);

    [Fact]
    public void ConsecutiveErrors_EjectForBaseTime_AndASuccessResetsTheCount()
    {
        var time = new FakeTimeProvider();
        var detector = Detector(time);

        Assert.False(detector.Record("a", 503, 4));
        Assert.False(detector.Record("a", 500, 4));
        Assert.False(detector.Record("a", 200, 4)); // the streak is broken
        Assert.False(detector.Record("a", 502, 4));
        Assert.False(detector.Record("a", 0, 4)); // connection failure
        Assert.True(detector.Record("a", 504, 4));

        Assert.True(detector.IsEjected("a"));
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(30), detector.EjectedUntil("a"));
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.True(detector.IsEjected("a"));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(detector.IsEjected("a"));
    }

    [Fact]
    public void RepeatedEjections_LastLonger_AndTheMultiplierDecaysWhileHealthy()
    {
        var time = new FakeTimeProvider();
        var detector = Detector(time, consecutive: 1);

        detector.Record("a", 503, 4);
        Assert.Equal(TimeSpan.FromSeconds(30), detector.EjectedUntil("a") - time.GetUtcNow());
        time.Advance(TimeSpan.FromSeconds(31));
        detector.Record("a", 503, 4);
        Assert.Equal(TimeSpan.FromSeconds(60), detector.EjectedUntil("a") - time.GetUtcNow());

        // Healthy for 2 intervals after the second ejection ended: back to the base time.
        time.Advance(TimeSpan.FromSeconds(60 + 20));
        detector.Record("a", 503, 4);
        Assert.Equal(TimeSpan.FromSeconds(30), detector.EjectedUntil("a") - time.GetUtcNow());
    }

    [Fact]
    public void MaxEjectionPercent_CapsEjections_ButOneMayAlwaysGo()
    {
        var time = new FakeTimeProvider();
        var detector = Detector(time, consecutive: 1, maxPercent: 10);

        Assert.True(detector.Record("a", 503, 3)); // 10% of 3 is 0, but Envoy always allows one
        Assert.False(detector.Record("b", 503, 3));
        Assert.False(detector.IsEjected("b"));

        var half = Detector(time, consecutive: 1, maxPercent: 50);
        Assert.True(half.Record("a", 503, 4));
        Assert.True(half.Record("b", 503, 4));
        Assert.False(half.Record("c", 503, 4));
        Assert.Equal(2, half.Ejections);
    }
}
