using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Peering;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Tests.Peering;

public sealed class RemoteLatencyTests
{
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _time = new();

    /// <summary>A Random that never explores (its draws are above <see cref="RemoteLatency.Exploration"/>), or always does.</summary>
    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }

    private static readonly Random NoExploring = new FixedRandom(0.5);

    private static DestinationState Endpoint(string id, string region, int port, string? peer) => new(id, new DestinationModel(new DestinationConfig
    {
        Address = $"https://10.0.0.1:{port}",
        Metadata = peer is null
            ? new Dictionary<string, string> { [LocalityStep.RegionKey] = region, [LocalityStep.ZoneKey] = "" }
            : new Dictionary<string, string> { [LocalityStep.RegionKey] = region, [LocalityStep.ZoneKey] = "", [ProxyConfigBuilder.PeerKey] = peer },
    }));

    private static readonly DestinationState[] TwoRemoteRegions =
    [
        Endpoint("w1@west", "west", 1001, "west"), Endpoint("w2@west", "west", 1002, "west"), Endpoint("s1@south", "south", 2001, "south"),
    ];

    [Fact]
    public void Record_KeepsAMovingAverage()
    {
        var latency = new RemoteLatency(_time);
        latency.Record("10.0.0.1:1001", TimeSpan.FromMilliseconds(10));
        latency.Record("10.0.0.1:1001", TimeSpan.FromMilliseconds(20));

        Assert.Equal(10 + (RemoteLatency.Alpha * 10), latency.Get("https://10.0.0.1:1001")!.Value, 6);
        Assert.Null(latency.Get("https://10.0.0.1:9999"));
    }

    [Fact]
    public void Prefer_EqualRemoteRegions_TheLowerAverageRoundTrip()
    {
        var latency = new RemoteLatency(_time);
        latency.Record("10.0.0.1:1001", TimeSpan.FromMilliseconds(40));
        latency.Record("10.0.0.1:1002", TimeSpan.FromMilliseconds(30));
        latency.Record("10.0.0.1:2001", TimeSpan.FromMilliseconds(5));

        Assert.Equal(["s1@south"], latency.Prefer(TwoRemoteRegions, "east", NoExploring).Select(d => d.DestinationId));

        latency.Record("10.0.0.1:2001", TimeSpan.FromMilliseconds(500));
        latency.Record("10.0.0.1:2001", TimeSpan.FromMilliseconds(500));
        latency.Record("10.0.0.1:2001", TimeSpan.FromMilliseconds(500));
        Assert.Equal(["w1@west", "w2@west"], latency.Prefer(TwoRemoteRegions, "east", NoExploring).Select(d => d.DestinationId));
    }

    [Fact]
    public void Get_AnAverageNotFedForAWhile_IsForgotten_AndStartsAgainFromItsNextSample()
    {
        var latency = new RemoteLatency(_time);
        latency.Record("10.0.0.1:2001", TimeSpan.FromMilliseconds(200));
        _time.Advance(RemoteLatency.Forget + TimeSpan.FromSeconds(1));

        Assert.Null(latency.Get("https://10.0.0.1:2001"));
        latency.Record("10.0.0.1:2001", TimeSpan.FromMilliseconds(3));
        Assert.Equal(3, latency.Get("https://10.0.0.1:2001")!.Value, 6);
    }

    [Fact]
    public void Prefer_ARegionNotMeasuredYet_GoesFirst()
    {
        var latency = new RemoteLatency(_time);
        latency.Record("10.0.0.1:1001", TimeSpan.FromMilliseconds(1));

        Assert.Equal(["s1@south"], latency.Prefer(TwoRemoteRegions, "east", NoExploring).Select(d => d.DestinationId));
    }

    [Fact]
    public void Prefer_LeavesTheSetAlone_WithTheCallersRegionOrOwnEndpointsInIt_OrWhenExploring()
    {
        var latency = new RemoteLatency(_time);
        latency.Record("10.0.0.1:2001", TimeSpan.FromMilliseconds(1));
        DestinationState[] withOwn = [.. TwoRemoteRegions, Endpoint("e1", "east", 3001, peer: null)];
        DestinationState[] withUnpeered = [.. TwoRemoteRegions, Endpoint("n1", "north", 4001, peer: null)];

        Assert.Equal(4, latency.Prefer(withOwn, "east", NoExploring).Count);
        Assert.Equal(4, latency.Prefer(withUnpeered, "east", NoExploring).Count);
        Assert.Equal(3, latency.Prefer(TwoRemoteRegions, "east", new FixedRandom(0.0)).Count);
        Assert.Equal(3, latency.Prefer(TwoRemoteRegions, "west", NoExploring).Count);
    }
}
