using System.Collections.Concurrent;
using Mesh.Core.Registry;

namespace Mesh.Sidecar.Telemetry;

/// <summary>
/// Counts the calls the app receives, by caller, for the heartbeat's <see cref="TrafficReport"/>: a
/// dictionary lookup and three interlocked adds per call, next to the OpenTelemetry instruments that
/// count the same calls for <c>/metrics</c>. Counters only grow; the control plane takes differences.
/// </summary>
internal static class InboundTally
{
    /// <summary>Callers are workload names, bounded by the mesh; this stops a flood of distinct ones.</summary>
    public const int MaxSources = 256;

    private const string Other = "other";

    private static readonly ConcurrentDictionary<string, Counters> BySource = new(StringComparer.Ordinal);

    public static void Record(string source, int status, double milliseconds)
    {
        if (!BySource.TryGetValue(source, out var counters))
        {
            counters = BySource.Count < MaxSources ? BySource.GetOrAdd(source, static _ => new Counters()) : BySource.GetOrAdd(Other, static _ => new Counters());
        }
        Interlocked.Increment(ref counters.Requests);
        if (status >= 500)
        {
            Interlocked.Increment(ref counters.Errors);
        }
        Interlocked.Increment(ref counters.Buckets[LatencyBuckets.IndexOf(milliseconds)]);
    }

    /// <summary>Everything counted so far; empty before the first call, which gives the control plane its zero to count from.</summary>
    public static TrafficReport Report()
    {
        var inbound = new List<TrafficCounter>(BySource.Count);
        foreach (var (source, counters) in BySource)
        {
            var buckets = new long[counters.Buckets.Length];
            for (var i = 0; i < buckets.Length; i++)
            {
                buckets[i] = Volatile.Read(ref counters.Buckets[i]);
            }
            inbound.Add(new TrafficCounter(source, Volatile.Read(ref counters.Requests), Volatile.Read(ref counters.Errors), buckets));
        }
        return new TrafficReport(inbound);
    }

    private sealed class Counters
    {
        public long Requests;
        public long Errors;
        public readonly long[] Buckets = new long[LatencyBuckets.Count];
    }
}
