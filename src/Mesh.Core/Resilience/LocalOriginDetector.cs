namespace Mesh.Core.Resilience;

/// <summary>
/// Local-origin failure detection for one destination, always on: an endpoint the caller could not
/// reach at all (connection refused, connect timeout, TLS handshake failed) leaves the caller's set at
/// once, the way Envoy counts local-origin errors apart from 5xx (<c>split_external_local_origin_errors</c>)
/// and Linkerd's failure accrual takes a failing endpoint out without any config. It comes back through
/// a probe: when its backoff ends (1 s, doubling up to 30 s, with jitter) exactly one real call is sent
/// to it; if that call connects the endpoint is back, if not it is ejected again for twice as long.
/// A probe that fails to connect costs the caller nothing but a retry on another endpoint (connect
/// failures are retried outside the retry budget). 5xx answers never count here: a DestinationRule's
/// <c>outlierDetection</c> governs those. Thread-safe.
/// </summary>
public sealed class LocalOriginDetector(TimeProvider time)
{
    public static readonly TimeSpan BaseBackoff = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>A probe that has not reported back after this long (a hung call) frees the slot for another.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, State> _endpoints = new(StringComparer.Ordinal);
    private int _tracked; // read without the lock: the common call (nothing ejected) takes no lock

    /// <summary>Ejections so far (for tests).</summary>
    public long Ejections { get; private set; }

    /// <summary>Whether any endpoint is ejected or being probed; a lock-free check for the request path.</summary>
    public bool Any => Volatile.Read(ref _tracked) > 0;

    /// <summary>
    /// Records how an attempt to <paramref name="endpoint"/> went: <paramref name="unreachable"/> when no
    /// connection could be made. Returns true when this ejected the endpoint.
    /// </summary>
    public bool Record(string endpoint, bool unreachable)
    {
        if (!unreachable && !Any)
        {
            return false; // nearly every call: nothing tracked, nothing to clear
        }
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (!unreachable)
            {
                if (_endpoints.Remove(endpoint))
                {
                    Volatile.Write(ref _tracked, _endpoints.Count);
                }
                return false;
            }
            if (_endpoints.TryGetValue(endpoint, out var state) && state.Until > now && !state.Probing)
            {
                return false; // already out: a call chosen before the ejection landed
            }
            state ??= new State();
            state.Ejections++;
            var backoff = TimeSpan.FromTicks(Math.Min(BaseBackoff.Ticks << Math.Min(state.Ejections - 1, 16), MaxBackoff.Ticks));
            // Jitter (up to a quarter) keeps callers that ejected together from probing together.
            backoff += TimeSpan.FromTicks((long)(backoff.Ticks * 0.25 * Random.Shared.NextDouble()));
            state.Until = now + backoff;
            state.Probing = false;
            _endpoints[endpoint] = state;
            Volatile.Write(ref _tracked, _endpoints.Count);
            Ejections++;
            return true;
        }
    }

    /// <summary>A call ended without telling anything about the endpoint (the caller left): a probe it carried may be made again.</summary>
    public void Release(string endpoint)
    {
        lock (_gate)
        {
            if (_endpoints.TryGetValue(endpoint, out var state))
            {
                state.Probing = false;
            }
        }
    }

    /// <summary>Whether the endpoint is out of the set now (ejected, or being probed by another call).</summary>
    public bool IsEjected(string endpoint)
    {
        lock (_gate)
        {
            return _endpoints.TryGetValue(endpoint, out var state) && Excluded(state, time.GetUtcNow());
        }
    }

    /// <summary>When the endpoint's ejection ends, or null if it is in the set.</summary>
    public DateTimeOffset? EjectedUntil(string endpoint)
    {
        lock (_gate)
        {
            return _endpoints.TryGetValue(endpoint, out var state) && Excluded(state, time.GetUtcNow()) ? state.Until : null;
        }
    }

    /// <summary>
    /// If one of <paramref name="candidates"/> is due for its probe, claims it for the calling attempt and
    /// returns its id; that attempt then goes to it alone.
    /// </summary>
    public string? TryClaimProbe<T>(IReadOnlyList<T> candidates, Func<T, string> idOf)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            for (var i = 0; i < candidates.Count; i++)
            {
                var id = idOf(candidates[i]);
                if (_endpoints.TryGetValue(id, out var state) && state.Until <= now && !(state.Probing && now - state.ProbeStarted < ProbeTimeout))
                {
                    state.Probing = true;
                    state.ProbeStarted = now;
                    return id;
                }
            }
            return null;
        }
    }

    /// <summary>Forgets endpoints that left the registry: one that registers again starts afresh, as Envoy forgets a removed host.</summary>
    public void Retain(IReadOnlySet<string> present)
    {
        lock (_gate)
        {
            foreach (var id in _endpoints.Keys.Where(id => !present.Contains(id)).ToList())
            {
                _endpoints.Remove(id);
            }
            Volatile.Write(ref _tracked, _endpoints.Count);
        }
    }

    private static bool Excluded(State state, DateTimeOffset now) =>
        state.Until > now || (state.Probing && now - state.ProbeStarted < ProbeTimeout);

    private sealed class State
    {
        public int Ejections;
        public DateTimeOffset Until;
        public bool Probing;
        public DateTimeOffset ProbeStarted;
    }
}
