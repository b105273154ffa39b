using Mesh.Core.Config.Model;

namespace Mesh.Core.Resilience;

/// <summary>
/// Envoy's consecutive-error outlier detection for one destination service: an endpoint that returns
/// <c>consecutive5xxErrors</c> 5xx answers (or <c>consecutiveGatewayErrors</c> 502/503/504 and connection
/// failures) in a row is ejected at once, for <c>baseEjectionTime</c> times the number of times it has
/// been ejected (the multiplier shrinks again while it behaves, one step per <c>interval</c>). No more than
/// <c>maxEjectionPercent</c> of the endpoints are ejected at a time, though at least one always may be,
/// as in Envoy; with fewer than <c>minHealthPercent</c> healthy, ejection stops. Thread-safe.
/// </summary>
public sealed class OutlierDetector
{
    private static readonly TimeSpan MaxEjectionTime = TimeSpan.FromSeconds(300);

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, EndpointState> _endpoints = new(StringComparer.Ordinal);
    private readonly int _consecutive5xx;
    private readonly int _consecutiveGateway;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _baseEjectionTime;
    private readonly int _maxEjectionPercent;
    private readonly int _minHealthPercent;

    /// <summary>Istio's defaults fill what the rule leaves out: 5 consecutive 5xx, 10 s interval, 30 s base ejection, at most 10%.</summary>
    public OutlierDetector(OutlierDetection settings, TimeProvider time)
    {
        _time = time;
        _consecutive5xx = settings.Consecutive5xxErrors ?? (settings.ConsecutiveGatewayErrors is null ? 5 : 0);
        _consecutiveGateway = settings.ConsecutiveGatewayErrors ?? 0;
        _interval = settings.Interval ?? TimeSpan.FromSeconds(10);
        _baseEjectionTime = settings.BaseEjectionTime ?? TimeSpan.FromSeconds(30);
        _maxEjectionPercent = settings.MaxEjectionPercent ?? 10;
        _minHealthPercent = settings.MinHealthPercent ?? 0;
    }

    private long _lastEjectionEndTicks;

    /// <summary>Whether any endpoint may be ejected now: a lock-free check for the request path.</summary>
    public bool AnyEjected => _time.GetUtcNow().UtcTicks < Volatile.Read(ref _lastEjectionEndTicks);

    /// <summary>Ejections so far (for metrics and tests).</summary>
    public long Ejections { get; private set; }

    /// <summary>
    /// Records how an attempt to <paramref name="endpoint"/> ended (<paramref name="status"/> 0 for a
    /// connection failure). Returns true when this result ejected the endpoint.
    /// </summary>
    public bool Record(string endpoint, int status, int endpointCount)
    {
        var gatewayError = status is 0 or 502 or 503 or 504;
        var error = gatewayError || status >= 500;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (!_endpoints.TryGetValue(endpoint, out var state))
            {
                _endpoints[endpoint] = state = new EndpointState();
            }
            if (!error)
            {
                state.Consecutive5xx = 0;
                state.ConsecutiveGateway = 0;
                return false;
            }
            state.Consecutive5xx++;
            state.ConsecutiveGateway = gatewayError ? state.ConsecutiveGateway + 1 : 0;
            var tripped = (_consecutive5xx > 0 && state.Consecutive5xx >= _consecutive5xx)
                || (_consecutiveGateway > 0 && state.ConsecutiveGateway >= _consecutiveGateway);
            if (!tripped || state.EjectedUntil > now || !MayEject(now, endpointCount))
            {
                return false;
            }
            // The multiplier decays one step per interval spent not ejected since the last ejection ended.
            if (state.EjectedUntil != DateTimeOffset.MinValue && _interval > TimeSpan.Zero)
            {
                var calm = (long)((now - state.EjectedUntil) / _interval);
                state.Multiplier = (int)Math.Max(0, state.Multiplier - calm);
            }
            state.Multiplier++;
            var duration = TimeSpan.FromTicks(Math.Min(_baseEjectionTime.Ticks * state.Multiplier, Math.Max(MaxEjectionTime.Ticks, _baseEjectionTime.Ticks)));
            state.EjectedUntil = now + duration;
            Volatile.Write(ref _lastEjectionEndTicks, Math.Max(Volatile.Read(ref _lastEjectionEndTicks), state.EjectedUntil.UtcTicks));
            state.Consecutive5xx = 0;
            state.ConsecutiveGateway = 0;
            Ejections++;
            return true;
        }
    }

    public bool IsEjected(string endpoint)
    {
        lock (_gate)
        {
            return _endpoints.TryGetValue(endpoint, out var state) && state.EjectedUntil > _time.GetUtcNow();
        }
    }

    /// <summary>When the endpoint's ejection ends, or null if it is not ejected.</summary>
    public DateTimeOffset? EjectedUntil(string endpoint)
    {
        lock (_gate)
        {
            return _endpoints.TryGetValue(endpoint, out var state) && state.EjectedUntil > _time.GetUtcNow() ? state.EjectedUntil : null;
        }
    }

    private bool MayEject(DateTimeOffset now, int endpointCount)
    {
        var ejected = _endpoints.Values.Count(s => s.EjectedUntil > now);
        var max = Math.Max(1, endpointCount * _maxEjectionPercent / 100);
        if (ejected >= max)
        {
            return false;
        }
        var healthyPercentAfter = endpointCount == 0 ? 0 : 100 * (endpointCount - ejected - 1) / endpointCount;
        return _minHealthPercent == 0 || healthyPercentAfter >= _minHealthPercent;
    }

    private sealed class EndpointState
    {
        public int Consecutive5xx;
        public int ConsecutiveGateway;
        public int Multiplier;
        public DateTimeOffset EjectedUntil = DateTimeOffset.MinValue;
    }
}
