using Mesh.Core.Resilience;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Resilience;

public sealed class LocalOriginDetectorTests
{
    private static readonly string[] Endpoints = ["a", "b", "c"];

    [Fact]
    public void OneConnectFailure_EjectsAtOnce_AndSuccessesNeverDo()
    {
        var detector = new LocalOriginDetector(new FakeTimeProvider());
        Assert.False(detector.Record("a", unreachable: false));
        Assert.False(detector.Any);

        Assert.True(detector.Record("a", unreachable: true));

        Assert.True(detector.IsEjected("a"));
        Assert.False(detector.IsEjected("b"));
        Assert.True(detector.Any);
        // A call chosen before the ejection landed fails the same way: no second ejection.
        Assert.False(detector.Record("a", unreachable: true));
        Assert.Equal(1, detector.Ejections);
    }

    [Fact]
    public void AfterTheBackoff_ExactlyOneCallProbes_AndAConnectingProbeBringsTheEndpointBack()
    {
        var time = new FakeTimeProvider();
        var detector = new LocalOriginDetector(time);
        detector.Record("b", unreachable: true);
        Assert.Null(detector.TryClaimProbe(Endpoints, e => e)); // still backing off

        time.Advance(LocalOriginDetector.BaseBackoff * 1.25);
        Assert.Equal("b", detector.TryClaimProbe(Endpoints, e => e));
        Assert.Null(detector.TryClaimProbe(Endpoints, e => e)); // one probe at a time
        Assert.True(detector.IsEjected("b")); // other calls keep away while it is probed

        detector.Record("b", unreachable: false);
        Assert.False(detector.IsEjected("b"));
        Assert.False(detector.Any);
    }

    [Fact]
    public void AFailedProbe_EjectsAgainForTwiceAsLong_UpToTheCap()
    {
        var time = new FakeTimeProvider();
        var detector = new LocalOriginDetector(time);
        detector.Record("a", unreachable: true);
        var previous = detector.EjectedUntil("a")!.Value - time.GetUtcNow();
        Assert.InRange(previous, LocalOriginDetector.BaseBackoff, LocalOriginDetector.BaseBackoff * 1.25);
        for (var i = 2; i <= 8; i++)
        {
            time.Advance(previous);
            Assert.Equal("a", detector.TryClaimProbe(Endpoints, e => e));
            Assert.True(detector.Record("a", unreachable: true));
            var backoff = detector.EjectedUntil("a")!.Value - time.GetUtcNow();
            var expected = TimeSpan.FromTicks(Math.Min(LocalOriginDetector.BaseBackoff.Ticks << (i - 1), LocalOriginDetector.MaxBackoff.Ticks));
            Assert.InRange(backoff, expected, expected * 1.25);
            previous = backoff;
        }
    }

    [Fact]
    public void AProbeWhoseCallerLeft_IsMadeAgainByTheNextCall()
    {
        var time = new FakeTimeProvider();
        var detector = new LocalOriginDetector(time);
        detector.Record("c", unreachable: true);
        time.Advance(LocalOriginDetector.MaxBackoff);
        Assert.Equal("c", detector.TryClaimProbe(Endpoints, e => e));
        detector.Release("c");
        Assert.Equal("c", detector.TryClaimProbe(Endpoints, e => e));
    }

    [Fact]
    public void AnEndpointThatLeftTheRegistry_IsForgotten()
    {
        var detector = new LocalOriginDetector(new FakeTimeProvider());
        detector.Record("a", unreachable: true);
        detector.Record("b", unreachable: true);

        detector.Retain(new HashSet<string> { "b", "c" });

        Assert.False(detector.IsEjected("a"));
        Assert.True(detector.IsEjected("b"));
    }
}
