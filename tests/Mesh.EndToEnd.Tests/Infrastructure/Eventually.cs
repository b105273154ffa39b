namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>Waits for a condition on real processes with a deadline, instead of sleeping a fixed time.</summary>
internal static class Eventually
{
    public static async Task<T> ValueAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, Func<string> describe, TimeSpan? pollInterval = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last = default!;
        Exception? lastError = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await probe().ConfigureAwait(false);
                if (done(last))
                {
                    return last;
                }
                lastError = null;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                lastError = e;
            }
            await Task.Delay(pollInterval ?? TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
        }
        throw new TimeoutException($"after {timeout.TotalSeconds}s: {describe()}; last value: {last}{(lastError is null ? "" : "; last error: " + lastError.Message)}");
    }

    public static Task TrueAsync(Func<Task<bool>> probe, TimeSpan timeout, Func<string> describe) =>
        ValueAsync(probe, ok => ok, timeout, describe);
}
