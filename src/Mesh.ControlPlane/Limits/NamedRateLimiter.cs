using System.Threading.RateLimiting;

namespace Mesh.ControlPlane.Limits;

/// <summary>
/// A limiter whose refusals carry its name, so a refusal from a chain of limiters (per address, then
/// per identity) can say which limit it was.
/// </summary>
internal sealed class NamedRateLimiter(string name, RateLimiter inner) : RateLimiter
{
    /// <summary>The lease metadata naming the limit that refused.</summary>
    public static readonly MetadataName<string> Limit = MetadataName.Create<string>("MESH_LIMIT");

    public override TimeSpan? IdleDuration => inner.IdleDuration;

    public override RateLimiterStatistics? GetStatistics() => inner.GetStatistics();

    protected override RateLimitLease AttemptAcquireCore(int permitCount) => Named(inner.AttemptAcquire(permitCount));

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        Named(await inner.AcquireAsync(permitCount, cancellationToken).ConfigureAwait(false));

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }

    protected override ValueTask DisposeAsyncCore() => inner.DisposeAsync();

    private RateLimitLease Named(RateLimitLease lease) => lease.IsAcquired ? lease : new RefusedLease(name, lease);

    private sealed class RefusedLease(string name, RateLimitLease inner) : RateLimitLease
    {
        public override bool IsAcquired => false;

        public override IEnumerable<string> MetadataNames => inner.MetadataNames.Append(Limit.Name);

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            if (metadataName == Limit.Name)
            {
                metadata = name;
                return true;
            }
            return inner.TryGetMetadata(metadataName, out metadata);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
        }
    }
}
