using System.Collections.Concurrent;

namespace Mesh.Core.Hosting;

/// <summary>
/// Lets one log line per key through per interval and counts the rest, so a dead endpoint that fails
/// thousands of calls (or a flood refused by a limit) writes a line per interval with the number
/// suppressed, not thousands of lines.
/// </summary>
public sealed class LogRateLimiter(TimeProvider time, TimeSpan interval)
{
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);

    /// <summary>True when a line for <paramref name="key"/> may be written now; <paramref name="suppressed"/> is how many were held back since the last one.</summary>
    public bool TryAcquire(string key, out int suppressed)
    {
        var now = time.GetTimestamp();
        var window = _windows.GetOrAdd(key, static _ => new Window());
        lock (window)
        {
            if (window.Started != 0 && time.GetElapsedTime(window.Started, now) < interval)
            {
                window.Suppressed++;
                suppressed = 0;
                return false;
            }
            suppressed = window.Suppressed;
            window.Suppressed = 0;
            window.Started = now;
            return true;
        }
    }

    private sealed class Window
    {
        public long Started;
        public int Suppressed;
    }
}
