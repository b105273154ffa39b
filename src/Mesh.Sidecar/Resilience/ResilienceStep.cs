using Microsoft.AspNetCore.WebUtilities;
using Mesh.Core.Resilience;
using Mesh.Core.Hosting;
using Mesh.Sidecar.Telemetry;
using Polly;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// Proxy-pipeline step between routing and load balancing that makes one call out of several attempts
/// (<see cref="CallAttempts"/>): each to an endpoint not tried yet and not ejected, with a connection-pool
/// permit and the per-try timeout. Whether a failed attempt is retried is <see cref="RetryDecision"/>'s
/// answer; Polly (<see cref="RetryPipelines"/>) only spaces the retries out. A 5xx answer that will be
/// retried never reaches the caller: <see cref="AttemptTransforms"/> holds its body back.
/// </summary>
internal sealed partial class ResilienceStep(RequestDelegate next, TimeProvider time, ILogger<ResilienceStep> logger)
{
    /// <summary>Bodies up to this size, of known length, are buffered so a retry can send them again.</summary>
    public const int MaxReplayBodyBytes = 64 * 1024;

    private readonly LogRateLimiter _failureLines = new(time, TimeSpan.FromSeconds(1));

    public Task InvokeAsync(HttpContext context)
    {
        var call = context.Features.Get<OutboundCall>();
        if (call?.Cluster is not { } cluster)
        {
            return next(context);
        }
        cluster.Resilience.Budget.RecordRequest();
        return HasBody(context.Request)
            ? BufferThenCallAsync(context, call)
            : CallAsync(context, call, replayable: true);
    }

    private async Task BufferThenCallAsync(HttpContext context, OutboundCall call)
    {
        var replayable = await BufferBodyAsync(context);
        await CallAsync(context, call, replayable);
    }

    /// <summary>
    /// The first attempt runs directly, so a call that succeeds (nearly all of them) pays nothing for
    /// the retry machinery; only an attempt that failed in a way the policy retries enters Polly.
    /// </summary>
    private async Task CallAsync(HttpContext context, OutboundCall call, bool replayable)
    {
        var cluster = call.Cluster!;
        var decision = new RetryDecision(call, cluster, replayable);
        call.Retries = decision;
        var attempts = new CallAttempts(context, call, cluster, decision, logger);
        try
        {
            var first = await attempts.RunFirstAsync(next, context.RequestAborted);
            if (first.Retry)
            {
                await RetryAsync(attempts, decision.Policy);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The caller left, or the route timeout fired: the routing step answers for it.
        }
        finally
        {
            decision.Finish();
            if (attempts.LastFailure is { } failure)
            {
                LogFailure(attempts, failure.Endpoint, failure.Failure);
            }
        }
    }

    /// <summary>
    /// Polly's retry pipeline from the first retry on: its first execution hands back the outcome of the
    /// attempt already made, so the backoff, jitter and attempt count are Polly's as if it had made it.
    /// </summary>
    private async Task RetryAsync(CallAttempts attempts, RetryPolicy policy)
    {
        var resilienceContext = ResilienceContextPool.Shared.Get(attempts.Context.RequestAborted);
        try
        {
            await RetryPipelines.For(policy).ExecuteAsync(
                static (ctx, s) => s.Attempts.NextAsync(s.Next, ctx.CancellationToken),
                resilienceContext,
                (Attempts: attempts, Next: next));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilienceContext);
        }
    }

    /// <summary>One line per call that met a failed attempt (no stack trace: these are expected network errors), at most one a second per endpoint and kind.</summary>
    private void LogFailure(CallAttempts attempts, string endpoint, AttemptFailure failure)
    {
        if (!logger.IsEnabled(LogLevel.Warning) || !_failureLines.TryAcquire(string.Concat(attempts.ClusterId, "|", endpoint, "|", failure.ToString()), out var suppressed))
        {
            return;
        }
        var response = attempts.Context.Response;
        var outcome = attempts.Context.RequestAborted.IsCancellationRequested ? "caller left" : $"answered {response.StatusCode}";
        UpstreamFailed(logger, attempts.ClusterId, endpoint, Kebab(failure), attempts.Call.Attempt, outcome, suppressed);
    }

    private static string Kebab(AttemptFailure failure) => failure switch
    {
        AttemptFailure.ConnectFailure => "connect-failure",
        AttemptFailure.RefusedStream => "refused-stream",
        AttemptFailure.PerTryTimeout => "per-try-timeout",
        AttemptFailure.Reset => "reset",
        _ => failure.ToString().ToLowerInvariant(),
    };

    private static bool HasBody(HttpRequest request) =>
        request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0;

    /// <summary>Buffers a small body of known length so it can be sent again; false if it cannot be.</summary>
    private static async Task<bool> BufferBodyAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength is not { } length || length > MaxReplayBodyBytes)
        {
            return false;
        }
        request.EnableBuffering(MaxReplayBodyBytes);
        await request.Body.DrainAsync(context.RequestAborted);
        request.Body.Position = 0;
        return true;
    }

    [LoggerMessage(51, LogLevel.Warning, "Upstream {Cluster} endpoint {Endpoint}: {Failure}; {Attempts} attempt(s), {Outcome} (similar lines suppressed in the last second: {Suppressed})")]
    private static partial void UpstreamFailed(ILogger logger, string cluster, string endpoint, string failure, int attempts, string outcome, int suppressed);

    [LoggerMessage(50, LogLevel.Information, "Ejected {Endpoint} of {Cluster} until {Until:HH:mm:ss.fff} ({Reason})")]
    internal static partial void Ejected(ILogger logger, string endpoint, string cluster, DateTimeOffset until, string reason);
}
