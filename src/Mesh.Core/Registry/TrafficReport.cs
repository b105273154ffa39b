namespace Mesh.Core.Registry;

/// <summary>
/// What a sidecar tells the control plane about the calls its app received, with each heartbeat, so the
/// dashboard has golden signals and a service graph without Prometheus. Counters are cumulative since the
/// sidecar started (as Prometheus counters are): a lost heartbeat loses no calls, and the control plane
/// takes rates from the difference between two reports.
/// </summary>
public sealed record TrafficReport(IReadOnlyList<TrafficCounter> Inbound);

/// <summary>
/// Calls from one caller (<c>service.namespace</c> from its SPIFFE id, <c>unknown</c> over plaintext):
/// how many, how many failed (5xx, the sidecar's own refusals included), and their durations counted in
/// <see cref="LatencyBuckets"/> (one count per bound, the last for everything slower).
/// </summary>
public sealed record TrafficCounter(string Source, long Requests, long Errors, long[] Buckets);

/// <summary>The histogram every sidecar counts durations in, so reports from any sidecar add up.</summary>
public static class LatencyBuckets
{
    /// <summary>Upper bounds in milliseconds; a report has one more bucket, for slower calls.</summary>
    public static readonly double[] UpperBoundsMs = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

    public static int Count => UpperBoundsMs.Length + 1;

    public static int IndexOf(double milliseconds)
    {
        var bounds = UpperBoundsMs;
        for (var i = 0; i < bounds.Length; i++)
        {
            if (milliseconds <= bounds[i])
            {
                return i;
            }
        }
        return bounds.Length;
    }

    /// <summary>
    /// The <paramref name="q"/> quantile of counted durations, interpolated inside its bucket as
    /// Prometheus' <c>histogram_quantile</c> does; null when nothing was counted. A quantile in the last
    /// (unbounded) bucket answers the highest bound.
    /// </summary>
    public static double? Quantile(double q, IReadOnlyList<long> buckets)
    {
        long total = 0;
        foreach (var count in buckets)
        {
            total += count;
        }
        if (total == 0)
        {
            return null;
        }
        var rank = q * total;
        long below = 0;
        for (var i = 0; i < buckets.Count; i++)
        {
            if (below + buckets[i] >= rank && buckets[i] > 0)
            {
                if (i >= UpperBoundsMs.Length)
                {
                    return UpperBoundsMs[^1];
                }
                var lower = i == 0 ? 0 : UpperBoundsMs[i - 1];
                return lower + (UpperBoundsMs[i] - lower) * ((rank - below) / buckets[i]);
            }
            below += buckets[i];
        }
        return UpperBoundsMs[^1];
    }
}
