namespace Mesh.Core.Resilience;

/// <summary>
/// Caps retries to a share of recent requests, as Linkerd's retry budget and Envoy's retry_budget do:
/// over a sliding window, retries may not exceed <c>ratio × requests</c> plus a small floor of
/// <c>minRetriesPerSecond</c>, so a failing service gets at most a fixed fraction of extra load instead
/// of a retry storm. One budget per destination service; thread-safe.
/// </summary>
public sealed class RetryBudget
{
    public const double DefaultRatio = 0.2;
    public const int DefaultMinRetriesPerSecond = 10;
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly long[] _requests;
    private readonly long[] _retries;
    private readonly long[] _bucketSecond;

    public RetryBudget(TimeProvider time, double ratio = DefaultRatio, int minRetriesPerSecond = DefaultMinRetriesPerSecond, TimeSpan? window = null)
    {
        _time = time;
        Ratio = ratio;
        MinRetriesPerSecond = minRetriesPerSecond;
        var seconds = Math.Max(1, (int)Math.Ceiling((window ?? DefaultWindow).TotalSeconds));
        _requests = new long[seconds];
        _retries = new long[seconds];
        _bucketSecond = Enumerable.Repeat(long.MinValue / 2, seconds).ToArray();
    }

    public double Ratio { get; }
    public int MinRetriesPerSecond { get; }

    /// <summary>Counts a first attempt: it earns the service <see cref="Ratio"/> of a retry.</summary>
    public void RecordRequest()
    {
        lock (_gate)
        {
            _requests[Bucket(Now())]++;
        }
    }

    /// <summary>Takes one retry from the budget; false when the window's allowance is spent.</summary>
    public bool TryWithdraw()
    {
        lock (_gate)
        {
            var second = Now();
            var current = Bucket(second);
            long requests = 0, retries = 0;
            for (var i = 0; i < _requests.Length; i++)
            {
                if (second - _bucketSecond[i] < _requests.Length)
                {
                    requests += _requests[i];
                    retries += _retries[i];
                }
            }
            var allowed = MinRetriesPerSecond * (double)_requests.Length + Ratio * requests;
            if (retries + 1 > allowed)
            {
                return false;
            }
            _retries[current]++;
            return true;
        }
    }

    private long Now() => _time.GetTimestamp() / _time.TimestampFrequency;

    /// <summary>The ring slot of this second, emptied first if it still holds an older second's counts.</summary>
    private int Bucket(long second)
    {
        var index = (int)(second % _requests.Length);
        if (_bucketSecond[index] != second)
        {
            _requests[index] = 0;
            _retries[index] = 0;
            _bucketSecond[index] = second;
        }
        return index;
    }
}
