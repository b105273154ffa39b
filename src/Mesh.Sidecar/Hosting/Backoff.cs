namespace Mesh.Sidecar.Hosting;

/// <summary>Exponential backoff with full jitter, so many sidecars do not retry in lockstep.</summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max)
{
    public int Attempt { get; private set; }

    public TimeSpan Next()
    {
        Attempt++;
        var ceiling = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(Attempt - 1, 16)));
        return TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }

    public void Reset() => Attempt = 0;
}
