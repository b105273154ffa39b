using System.Collections.Concurrent;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Peering;

/// <summary>
/// A moving average of each remote (imported) endpoint's round-trip time, as the seeds' latency sort keeps:
/// from a request's start to its response headers, through the caller's sidecar, both networks and the
/// callee's sidecar and app. Among remote regions the locality rules rank equal, <see cref="Prefer"/> keeps
/// the one with the lowest average; a region not measured yet goes first, so it gets measured, and one call
/// in fifty is left to the load balancer across all of them. An average with no sample for
/// <see cref="Forget"/> counts as not measured, and its next sample starts it again: otherwise a region
/// measured once while slow (a cold connection, a moment of load) would keep too few calls to ever recover.
/// </summary>
internal sealed class RemoteLatency(TimeProvider time)
{
    /// <summary>An average not fed for this long is forgotten.</summary>
    public static readonly TimeSpan Forget = TimeSpan.FromSeconds(5);

    /// <summary>Weight of the newest sample: about the last ten calls count.</summary>
    public const double Alpha = 0.2;

    /// <summary>Share of calls not narrowed to the fastest region, to keep measuring the others.</summary>
    public const double Exploration = 0.02;

    private readonly ConcurrentDictionary<string, (double Average, long At)> _ewma = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _authorities = new(StringComparer.Ordinal);

    /// <summary>Adds one round trip of the endpoint at <paramref name="authority"/> (<c>host:port</c>).</summary>
    public void Record(string authority, TimeSpan roundTrip)
    {
        var sample = roundTrip.TotalMilliseconds;
        var now = time.GetTimestamp();
        _ewma.AddOrUpdate(authority, (sample, now), (_, held) =>
            (time.GetElapsedTime(held.At, now) > Forget ? sample : held.Average + Alpha * (sample - held.Average), now));
    }

    /// <summary>The average in milliseconds, or null before the first sample and once it is forgotten.</summary>
    public double? Get(string address) =>
        _ewma.TryGetValue(Authority(address), out var held) && time.GetElapsedTime(held.At) <= Forget ? held.Average : null;

    /// <summary>
    /// Narrows <paramref name="destinations"/> (already the locality rules' preferred set) to one remote region
    /// when they span several and none is the caller's: the one with the lowest average round trip.
    /// </summary>
    public IReadOnlyList<DestinationState> Prefer(IReadOnlyList<DestinationState> destinations, string? callerRegion, Random random)
    {
        if (destinations.Count < 2 || _ewma.IsEmpty)
        {
            return destinations;
        }
        string? first = null;
        var several = false;
        foreach (var destination in destinations)
        {
            var region = RegionOf(destination);
            if (region == (callerRegion ?? "") || Peer(destination) is null)
            {
                return destinations; // the caller's own region, or this region's own endpoints, are in the set: nothing to rank
            }
            first ??= region;
            several |= region != first;
        }
        if (!several || random.NextDouble() < Exploration)
        {
            return destinations;
        }
        var byRegion = destinations.GroupBy(RegionOf, StringComparer.Ordinal)
            .Select(g => (Destinations: g.ToArray(), Average: g.Select(d => Get(d.Model.Config.Address)).Average(a => a ?? -1)))
            .MinBy(g => g.Average);
        return byRegion.Destinations;
    }

    private static string RegionOf(DestinationState d) => d.Model.Config.Metadata?.GetValueOrDefault(Outbound.LocalityStep.RegionKey) ?? "";

    private static string? Peer(DestinationState d) => d.Model.Config.Metadata?.GetValueOrDefault(Configuration.ProxyConfigBuilder.PeerKey);

    private string Authority(string address) =>
        _authorities.GetOrAdd(address, a => Uri.TryCreate(a, UriKind.Absolute, out var uri) ? uri.Authority : a);
}
