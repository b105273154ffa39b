using System.Collections.Concurrent;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Telemetry;

/// <summary>
/// Golden signals (request rate, success rate, p50/p99) per service and the service graph (who calls
/// whom), from the cumulative <see cref="TrafficReport"/>s sidecars send with their heartbeats: the
/// dashboard's data on the embedded default, with no Prometheus. Each instance keeps its newest report
/// and one kept every <see cref="KeepEvery"/> over the longest window, so memory is a few reports per
/// instance that receives calls, whatever the heartbeat rate. Figures are this replica's: with several
/// replicas each sees the heartbeats sent to it.
/// </summary>
internal sealed class TrafficSignals(TimeProvider time)
{
    public static readonly TimeSpan MaxWindow = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan KeepEvery = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, InstanceReports> _instances = new(StringComparer.Ordinal);

    public void Record(ServiceInstance instance, TrafficReport report)
    {
        var reports = _instances.GetOrAdd(instance.InstanceId, static _ => new InstanceReports());
        reports.Add($"{instance.Service}.{instance.Namespace}", time.GetUtcNow(), report);
    }

    /// <summary>What happened over the last <paramref name="window"/>, per service and per caller → callee edge.</summary>
    public TrafficView View(TimeSpan window)
    {
        var now = time.GetUtcNow();
        var since = now - window;
        var services = new Dictionary<string, Tally>(StringComparer.Ordinal);
        var edges = new Dictionary<(string Source, string Destination), Tally>();
        foreach (var (id, reports) in _instances)
        {
            if (!reports.Difference(since, now - MaxWindow, out var service, out var seconds, out var counters))
            {
                if (reports.Newest < now - MaxWindow)
                {
                    _instances.TryRemove(id, out _); // gone quiet for good: its lease lapsed long ago
                }
                continue;
            }
            foreach (var counter in counters)
            {
                Add(services, service, counter, seconds);
                Add(edges, (counter.Source, service), counter, seconds);
            }
        }
        return new TrafficView(
            (int)window.TotalSeconds,
            [.. services.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Value.Signals(s.Key, null))],
            [.. edges.OrderBy(e => e.Key.Source, StringComparer.Ordinal).ThenBy(e => e.Key.Destination, StringComparer.Ordinal)
                .Select(e => e.Value.Signals(e.Key.Destination, e.Key.Source))]);
    }

    private static void Add<TKey>(Dictionary<TKey, Tally> into, TKey key, TrafficCounter counter, double seconds) where TKey : notnull
    {
        if (!into.TryGetValue(key, out var tally))
        {
            into[key] = tally = new Tally();
        }
        tally.Add(counter, seconds);
    }

    /// <summary>Counts summed over instances; rates summed too, since each instance's span of reports differs.</summary>
    private sealed class Tally
    {
        private readonly long[] _buckets = new long[LatencyBuckets.Count];
        private long _requests;
        private long _errors;
        private double _perSecond;

        public void Add(TrafficCounter counter, double seconds)
        {
            _requests += counter.Requests;
            _errors += counter.Errors;
            _perSecond += counter.Requests / seconds;
            for (var i = 0; i < _buckets.Length && i < counter.Buckets.Length; i++)
            {
                _buckets[i] += counter.Buckets[i];
            }
        }

        public ServiceSignals Signals(string service, string? source) => new(
            service,
            source,
            _requests,
            _errors,
            Math.Round(_perSecond, 2),
            _requests == 0 ? null : Math.Round(1 - (double)_errors / _requests, 4),
            Round(LatencyBuckets.Quantile(0.5, _buckets)),
            Round(LatencyBuckets.Quantile(0.99, _buckets)));

        private static double? Round(double? ms) => ms is { } value ? Math.Round(value, 2) : null;
    }

    /// <summary>One instance's reports: the newest, and older ones at most one per <see cref="KeepEvery"/>.</summary>
    private sealed class InstanceReports
    {
        private readonly List<(DateTimeOffset At, TrafficReport Report)> _kept = [];
        private (DateTimeOffset At, TrafficReport Report)? _newest;
        private string _service = "";

        public DateTimeOffset Newest
        {
            get
            {
                lock (_kept)
                {
                    return _newest?.At ?? DateTimeOffset.MinValue;
                }
            }
        }

        public void Add(string service, DateTimeOffset at, TrafficReport report)
        {
            lock (_kept)
            {
                _service = service;
                if (_newest is { } newest && WentBack(newest.Report, report))
                {
                    _kept.Clear(); // the sidecar restarted and counts from zero again
                    _newest = null;
                }
                if (_kept.Count == 0 || at - _kept[^1].At >= KeepEvery)
                {
                    _kept.Add((at, report));
                }
                _newest = (at, report);
                var horizon = at - MaxWindow;
                var drop = 0;
                while (drop < _kept.Count - 1 && _kept[drop + 1].At <= horizon)
                {
                    drop++;
                }
                _kept.RemoveRange(0, drop);
            }
        }

        /// <summary>
        /// Calls between the oldest kept report at or after <paramref name="since"/> (or the last before it)
        /// and the newest; false without two reports, or when the newest is older than the window.
        /// </summary>
        public bool Difference(DateTimeOffset since, DateTimeOffset horizon, out string service, out double seconds, out List<TrafficCounter> counters)
        {
            lock (_kept)
            {
                service = _service;
                seconds = 0;
                counters = [];
                if (_newest is not { } newest || newest.At < since || newest.At < horizon)
                {
                    return false;
                }
                var baseline = _kept[0];
                foreach (var kept in _kept)
                {
                    if (kept.At > since)
                    {
                        break;
                    }
                    baseline = kept;
                }
                seconds = (newest.At - baseline.At).TotalSeconds;
                if (seconds <= 0)
                {
                    return false;
                }
                var before = baseline.Report.Inbound.ToDictionary(c => c.Source, StringComparer.Ordinal);
                foreach (var now in newest.Report.Inbound)
                {
                    var then = before.GetValueOrDefault(now.Source);
                    var buckets = new long[now.Buckets.Length];
                    for (var i = 0; i < buckets.Length; i++)
                    {
                        buckets[i] = now.Buckets[i] - (then is not null && i < then.Buckets.Length ? then.Buckets[i] : 0);
                    }
                    var requests = now.Requests - (then?.Requests ?? 0);
                    if (requests > 0)
                    {
                        counters.Add(new TrafficCounter(now.Source, requests, now.Errors - (then?.Errors ?? 0), buckets));
                    }
                }
                return true;
            }
        }

        private static bool WentBack(TrafficReport before, TrafficReport now)
        {
            var counts = now.Inbound.ToDictionary(c => c.Source, c => c.Requests, StringComparer.Ordinal);
            return before.Inbound.Any(c => counts.GetValueOrDefault(c.Source) < c.Requests);
        }
    }
}

/// <summary>The dashboard's <c>/v1/traffic</c>: per service (inbound, all callers) and per caller → callee edge.</summary>
internal sealed record TrafficView(int WindowSeconds, IReadOnlyList<ServiceSignals> Services, IReadOnlyList<ServiceSignals> Edges);

/// <summary>Golden signals over the window; <c>source</c> is set on an edge. Latencies in milliseconds.</summary>
internal sealed record ServiceSignals(string Service, string? Source, long Requests, long Errors, double RequestsPerSecond, double? SuccessRate, double? P50Ms, double? P99Ms);
