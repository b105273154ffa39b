using System.Diagnostics;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Calls a host through a sidecar from several workers until stopped, recording every call: when it started
/// and ended (on one clock, <see cref="Now"/>), its status (0 when no answer came) and body. A test reads
/// the timeline around what it did (a kill, a partition): which instance answered when, and what failed.
/// </summary>
internal sealed class RecordedLoad
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Call> _calls = [];
    private readonly Task[] _workers;

    public sealed record Call(TimeSpan Start, TimeSpan End, int Status, string Body)
    {
        public bool Ok => Status == 200;
    }

    public RecordedLoad(MeshCluster mesh, Sidecar from, string host, string path, int workers) =>
        _workers = [.. Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                var start = _clock.Elapsed;
                Call call;
                try
                {
                    var (status, body, response) = await mesh.CallAsync(from, host, path).ConfigureAwait(false);
                    response.Dispose();
                    call = new Call(start, _clock.Elapsed, (int)status, body.Trim());
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    call = new Call(start, _clock.Elapsed, 0, e.Message);
                }
                lock (_calls)
                {
                    _calls.Add(call);
                }
            }
        }))];

    public TimeSpan Now => _clock.Elapsed;

    public IReadOnlyList<Call> Calls
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>Waits until <paramref name="count"/> calls matching <paramref name="match"/> have ended.</summary>
    public Task WaitForAsync(Func<Call, bool> match, int count, TimeSpan timeout, string what) =>
        Eventually.TrueAsync(() => Task.FromResult(Calls.Count(match) >= count), timeout,
            () => $"{count} calls {what} (calls so far: {Calls.Count}, last: {Calls.LastOrDefault()})");

    public async Task<IReadOnlyList<Call>> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_workers).ConfigureAwait(false);
        _stop.Dispose();
        return Calls;
    }
}
