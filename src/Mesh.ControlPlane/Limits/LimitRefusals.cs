using System.Globalization;
using System.Threading.RateLimiting;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Hosting;
using Mesh.ControlPlane.Telemetry;

namespace Mesh.ControlPlane.Limits;

/// <summary>
/// Answers a request refused by a limit (429 with Retry-After, or 413) as a problem naming the limit,
/// counts it in <c>mesh_cp_requests_limited_total{limit}</c>, and logs it: the first refusal of each
/// limit at once, then at most one line per limit every <see cref="LogInterval"/> with how many were
/// refused since, so a flood does not become a flood of log lines.
/// </summary>
internal sealed class LimitRefusals(ControlPlaneRateLimits limits, TimeProvider time, ILogger<LimitRefusals> logger)
{
    public const string BodySize = "body-size";

    public static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private readonly LogRateLimiter _lines = new(time, LogInterval);

    /// <summary>The 429 for a refused lease (from the middleware or the CSR endpoint).</summary>
    public IResult TooManyRequests(HttpContext context, RateLimitLease lease)
    {
        var limit = lease.TryGetMetadata(NamedRateLimiter.Limit, out var name) && name is not null ? name : "rate-limit";
        var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : ControlPlaneRateLimits.WatchRetryAfter;
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Refuse(context, StatusCodes.Status429TooManyRequests, limit,
            $"rate limit {limit} exceeded: {limits.Describe(limit)}; retry after {seconds} s");
    }

    /// <summary>The 413 for a body announced larger than its endpoint takes.</summary>
    public IResult TooLarge(HttpContext context, long length, long limit) =>
        Refuse(context, StatusCodes.Status413PayloadTooLarge, BodySize,
            $"request body of {length} bytes is over the {limit / 1024} KiB limit of {context.Request.Method} {context.Request.Path}");

    private IResult Refuse(HttpContext context, int status, string limit, string reason)
    {
        ControlPlaneTelemetry.Limited(limit);
        if (_lines.TryAcquire(limit, out var suppressed))
        {
            Log.Limited(logger, status, context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress?.ToString() ?? "?", reason, suppressed, LogInterval);
        }
        return Results.Problem(reason, statusCode: status, extensions: new Dictionary<string, object?> { ["limit"] = limit });
    }
}
