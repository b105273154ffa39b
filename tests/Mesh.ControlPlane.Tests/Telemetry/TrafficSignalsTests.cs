using Mesh.ControlPlane.Telemetry;
using Mesh.Core.Registry;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.ControlPlane.Tests.Telemetry;

public sealed class TrafficSignalsTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-03T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private static ServiceInstance Instance(string id, string service) => new()
    {
        InstanceId = id, Service = service, Namespace = "default", Address = "127.0.0.1", Port = 1,
    };

    /// <summary>Cumulative counts for one caller: <paramref name="fast"/> calls in the 2-5 ms bucket, <paramref name="slow"/> in 250-500 ms.</summary>
    private static TrafficReport Report(string source, long fast, long slow, long errors)
    {
        var buckets = new long[LatencyBuckets.Count];
        buckets[LatencyBuckets.IndexOf(3)] = fast;
        buckets[LatencyBuckets.IndexOf(300)] = slow;
        return new TrafficReport([new TrafficCounter(source, fast + slow, errors, buckets)]);
    }

    [Fact]
    public void RatesAndPercentiles_ComeFromTheDifferenceBetweenReports_SummedOverInstances()
    {
        var signals = new TrafficSignals(_time);
        var a = Instance("reviews-1", "reviews");
        var b = Instance("reviews-2", "reviews");
        signals.Record(a, Report("productpage.default", 100, 0, 0)); // calls before the window: not counted
        signals.Record(b, new TrafficReport([]));
        _time.Advance(TimeSpan.FromSeconds(10));
        signals.Record(a, Report("productpage.default", 198, 2, 1));
        signals.Record(b, Report("ratings.default", 50, 0, 5));

        var view = signals.View(TimeSpan.FromMinutes(1));

        var reviews = Assert.Single(view.Services);
        Assert.Equal("reviews.default", reviews.Service);
        Assert.Equal(150, reviews.Requests);
        Assert.Equal(6, reviews.Errors);
        Assert.Equal(15, reviews.RequestsPerSecond); // 100 and 50 calls over 10 s
        Assert.Equal(0.96, reviews.SuccessRate);
        Assert.InRange(reviews.P50Ms!.Value, 2, 5);
        Assert.InRange(reviews.P99Ms!.Value, 250, 500);
        Assert.Collection(view.Edges,
            e => Assert.Equal(("productpage.default", "reviews.default", 100L, 1L), (e.Source, e.Service, e.Requests, e.Errors)),
            e => Assert.Equal(("ratings.default", "reviews.default", 50L, 5L), (e.Source, e.Service, e.Requests, e.Errors)));
    }

    [Fact]
    public void ASidecarThatRestarted_CountsFromItsNewZero_NotNegative()
    {
        var signals = new TrafficSignals(_time);
        var a = Instance("reviews-1", "reviews");
        signals.Record(a, Report("productpage.default", 500, 0, 0));
        _time.Advance(TimeSpan.FromSeconds(6));
        signals.Record(a, new TrafficReport([]));
        _time.Advance(TimeSpan.FromSeconds(6));
        signals.Record(a, Report("productpage.default", 30, 0, 0));

        var reviews = Assert.Single(signals.View(TimeSpan.FromMinutes(1)).Services);
        Assert.Equal(30, reviews.Requests);
        Assert.Equal(5, reviews.RequestsPerSecond);
    }

    [Fact]
    public void TheWindow_StartsFromTheReportKeptAtItsStart_AndQuietInstancesLeave()
    {
        var signals = new TrafficSignals(_time);
        var a = Instance("reviews-1", "reviews");
        for (var second = 0; second <= 60; second += 2)
        {
            if (second > 0)
            {
                _time.Advance(TimeSpan.FromSeconds(2));
            }
            signals.Record(a, Report("productpage.default", second * 10, 0, 0)); // 10 calls a second
        }

        var last20 = Assert.Single(signals.View(TimeSpan.FromSeconds(20)).Services);
        Assert.InRange(last20.Requests, 200, 200 + 10 * TrafficSignals.KeepEvery.TotalSeconds);
        Assert.Equal(10, last20.RequestsPerSecond);

        _time.Advance(TrafficSignals.MaxWindow + TimeSpan.FromSeconds(1));
        Assert.Empty(signals.View(TrafficSignals.MaxWindow).Services);
    }

    [Theory]
    [InlineData(0.5, 3.5)] // half of 2-5 ms: the middle of the bucket
    [InlineData(0.99, 4.97)]
    public void Quantile_InterpolatesInsideItsBucket(double q, double expected)
    {
        var buckets = new long[LatencyBuckets.Count];
        buckets[LatencyBuckets.IndexOf(3)] = 100;
        Assert.Equal(expected, LatencyBuckets.Quantile(q, buckets)!.Value, 2);
    }

    [Fact]
    public void Quantile_OfNothing_IsNull_AndOfTheUnboundedBucket_IsTheHighestBound()
    {
        var buckets = new long[LatencyBuckets.Count];
        Assert.Null(LatencyBuckets.Quantile(0.5, buckets));
        buckets[^1] = 3;
        Assert.Equal(LatencyBuckets.UpperBoundsMs[^1], LatencyBuckets.Quantile(0.99, buckets));
    }
}
