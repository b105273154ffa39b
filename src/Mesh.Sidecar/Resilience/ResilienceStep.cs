using System.Diagnostics;
using Microsoft.AspNetCore.WebUtilities;
using Mesh.Core.Resilience;
using Mesh.Core.Routing;
using Mesh.Sidecar.Configuration;
using Mesh.Core.Hosting;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Telemetry;
using Polly;
using Polly.Retry;
using System.Runtime.CompilerServices;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// Proxy-pipeline step between routing and load balancing that makes one call out of several attempts:
/// each attempt goes to an endpoint not tried yet and not ejected, holds a connection-pool permit, and
/// may be cut by <c>perTryTimeout</c>; a failed attempt is retried (Polly, jittered exponential backoff
/// 25-250 ms as Envoy's) when the route's <c>retryOn</c> covers how it failed, attempts remain, the body
/// can be sent again and the cluster's retry budget allows. Every result feeds outlier detection.
/// A 5xx answer that will be retried never reaches the caller: <see cref="RetryResponseTransform"/>
/// holds its body back.
/// </summary>
internal sealed partial class ResilienceStep(RequestDelegate next, TimeProvider time, ILogger<ResilienceStep> logger)
{
    /// <summary>Bodies up to this size, of known length, are buffered so a retry can send them again.</summary>
    public const int MaxReplayBodyBytes = 64 * 1024;

    private static readonly ConditionalWeakTable<RetryPolicy, ResiliencePipeline<AttemptResult>> Pipelines = [];

    public Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var call = context.Features.Get<OutboundCall>();
        if (call?.Cluster is not { Definition: var cluster, Resilience: var resilience })
        {
            return next(context);
        }
        var policy = call.Rule?.RetryPolicy ?? RetryPolicy.IstioDefault;
        resilience.Budget.RecordRequest();
        return HasBody(context.Request)
            ? BufferThenCallAsync(context, proxy, cluster, resilience, policy)
            : CallAsync(new CallAttempts(context, proxy, cluster, resilience, policy, replayable: true, logger));
    }

    private async Task BufferThenCallAsync(HttpContext context, IReverseProxyFeature proxy, ClusterDefinition cluster, ClusterResilience resilience, RetryPolicy policy)
    {
        var replayable = await BufferBodyAsync(context);
        await CallAsync(new CallAttempts(context, proxy, cluster, resilience, policy, replayable, logger));
    }

    /// <summary>
    /// The first attempt runs directly, so a call that succeeds (nearly all of them) pays nothing for
    /// the retry machinery; only an attempt that failed in a way the policy retries enters Polly.
    /// </summary>
    private async Task CallAsync(CallAttempts attempts)
    {
        var context = attempts.Context;
        context.Features.Set(attempts);
        try
        {
            var first = await attempts.RunAsync(next, 0, context.RequestAborted);
            if (first.Retry)
            {
                await RetryAsync(attempts, first);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The caller left, or the route timeout fired: the routing step answers for it.
        }
        finally
        {
            attempts.Finish();
            if (attempts.LastFailure is { } failure)
            {
                LogFailure(attempts, failure.Endpoint, failure.Failure);
            }
        }
    }

    private readonly LogRateLimiter _failureLines = new(time, TimeSpan.FromSeconds(1));

    /// <summary>One line per call that met a failed attempt (no stack trace: these are expected network errors), at most one a second per endpoint and kind.</summary>
    private void LogFailure(CallAttempts attempts, string endpoint, AttemptFailure failure)
    {
        if (!logger.IsEnabled(LogLevel.Warning) || !_failureLines.TryAcquire(string.Concat(attempts.ClusterId, "|", endpoint, "|", failure.ToString()), out var suppressed))
        {
            return;
        }
        var response = attempts.Context.Response;
        var outcome = attempts.Context.RequestAborted.IsCancellationRequested ? "caller left" : $"answered {response.StatusCode}";
        UpstreamFailed(logger, attempts.ClusterId, endpoint, Kebab(failure), attempts.AttemptsMade, outcome, suppressed);
    }

    private static string Kebab(AttemptFailure failure) => failure switch
    {
        AttemptFailure.ConnectFailure => "connect-failure",
        AttemptFailure.RefusedStream => "refused-stream",
        AttemptFailure.PerTryTimeout => "per-try-timeout",
        AttemptFailure.Reset => "reset",
        _ => failure.ToString().ToLowerInvariant(),
    };

    [LoggerMessage(51, LogLevel.Warning, "Upstream {Cluster} endpoint {Endpoint}: {Failure}; {Attempts} attempt(s), {Outcome} (similar lines suppressed in the last second: {Suppressed})")]
    private static partial void UpstreamFailed(ILogger logger, string cluster, string endpoint, string failure, int attempts, string outcome, int suppressed);

    /// <summary>
    /// Polly's retry pipeline from the first retry on: its first execution hands back the outcome of the
    /// attempt already made, so the backoff, jitter and attempt count are Polly's as if it had made it.
    /// </summary>
    private async Task RetryAsync(CallAttempts attempts, AttemptResult first)
    {
        var pipeline = Pipelines.GetValue(attempts.Policy, static p => Build(p));
        var resilienceContext = ResilienceContextPool.Shared.Get(attempts.Context.RequestAborted);
        try
        {
            await pipeline.ExecuteAsync(
                static (ctx, s) => ctx.Properties.GetValue(AttemptNumber, 0) is var number && number == 0
                    ? ValueTask.FromResult(s.First)
                    : s.Attempts.RunAsync(s.Next, number, ctx.CancellationToken),
                resilienceContext,
                (Attempts: attempts, Next: next, First: first));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilienceContext);
        }
    }

    private static bool HasBody(HttpRequest request) =>
        request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0;

    internal static readonly ResiliencePropertyKey<int> AttemptNumber = new("mesh.attempt");

    /// <summary>The retry pipeline of a policy; <paramref name="time"/> is for tests.</summary>
    internal static ResiliencePipeline<AttemptResult> Build(RetryPolicy policy, TimeProvider? time = null) =>
        new ResiliencePipelineBuilder<AttemptResult> { TimeProvider = time ?? TimeProvider.System }
            .AddRetry(new RetryStrategyOptions<AttemptResult>
            {
                MaxRetryAttempts = policy.Attempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(25),
                MaxDelay = TimeSpan.FromMilliseconds(250),
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Result is { Retry: true }),
                OnRetry = static args =>
                {
                    args.Context.Properties.Set(AttemptNumber, args.AttemptNumber + 1);
                    return default;
                },
            })
            .Build();

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

    [LoggerMessage(50, LogLevel.Information, "Ejected {Endpoint} of {Cluster} until {Until:HH:mm:ss.fff} ({Reason})")]
    internal static partial void Ejected(ILogger logger, string endpoint, string cluster, DateTimeOffset until, string reason);

    /// <summary>The state of one call across its attempts; also read by the response transform.</summary>
    internal sealed class CallAttempts(HttpContext context, IReverseProxyFeature proxy, ClusterDefinition cluster, ClusterResilience resilience, RetryPolicy policy, bool replayable, ILogger logger)
    {
        public HttpContext Context => context;

        public RetryPolicy Policy => policy;

        public string ClusterId => cluster.Id;

        private readonly IReadOnlyList<DestinationState> _all = proxy.AvailableDestinations;
        private readonly List<DestinationState> _tried = [];
        private int _number;
        private bool _retryStarted;
        private (string Endpoint, AttemptFailure Failure)? _failure;

        /// <summary>The endpoint and kind of the last failed attempt, for the call's log line.</summary>
        public (string Endpoint, AttemptFailure Failure)? LastFailure => _failure;

        public int AttemptsMade => _number + 1;

        public bool CloseEachConnection => resilience.CloseEachConnection;

        /// <summary>Set by the response transform when it held back a retryable answer's body.</summary>
        public bool RetryDecided { get; set; }

        public async ValueTask<AttemptResult> RunAsync(RequestDelegate next, int number, CancellationToken callAborted)
        {
            _number = number;
            RetryDecided = false;
            if (number > 0)
            {
                PrepareRetry();
            }
            // Never empty: the routing step has already answered 503 for a cluster without endpoints.
            proxy = context.GetReverseProxyFeature();
            proxy.AvailableDestinations = Candidates();
            using var lease = resilience.Limiter is { } limiter ? await limiter.AcquireAsync(1, callAborted) : null;
            if (lease is { IsAcquired: false })
            {
                context.Response.Headers["x-mesh-overflow"] = resilience.OverflowLimit;
                SidecarTelemetry.Overflows.Add(1, new TagList { { "destination", cluster.Host }, { "limit", resilience.OverflowLimit } });
                await MeshResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "overflow",
                    $"mesh: '{cluster.Host}' is at its connectionPool limit ({resilience.OverflowLimit}).");
                return AttemptResult.Done;
            }

            using var perTry = policy.PerTryTimeout is not null ? CancellationTokenSource.CreateLinkedTokenSource(callAborted) : null;
            if (perTry is not null)
            {
                perTry.CancelAfter(policy.PerTryTimeout!.Value);
            }
            var outer = context.RequestAborted;
            if (perTry is not null)
            {
                context.RequestAborted = perTry.Token;
            }
            try
            {
                await next(context);
            }
            finally
            {
                context.RequestAborted = outer;
            }
            var proxied = context.GetReverseProxyFeature().ProxiedDestination;
            if (proxied is not null)
            {
                _tried.Add(proxied);
            }
            var timedOut = perTry is { IsCancellationRequested: true } && !callAborted.IsCancellationRequested;
            var (status, failure) = Classify(timedOut);
            // Status 0 means the caller went away: not the endpoint's fault.
            if (proxied is not null && status == 0)
            {
                resilience.Local.Release(proxied.DestinationId);
            }
            if (proxied is not null && status != 0 && resilience.Local.Record(proxied.DestinationId, failure == AttemptFailure.ConnectFailure))
            {
                SidecarTelemetry.Ejections.Add(1, new TagList { { "destination", cluster.Host }, { "reason", "local-origin" } });
                Ejected(logger, proxied.DestinationId, cluster.Id, resilience.Local.EjectedUntil(proxied.DestinationId) ?? DateTimeOffset.UtcNow, "unreachable");
            }
            if (proxied is not null && status != 0 && resilience.Outliers is { } outliers
                && outliers.Record(proxied.DestinationId, status, _all.Count))
            {
                SidecarTelemetry.Ejections.Add(1, new TagList { { "destination", cluster.Host }, { "reason", "outlier-detection" } });
                Ejected(logger, proxied.DestinationId, cluster.Id, outliers.EjectedUntil(proxied.DestinationId) ?? DateTimeOffset.UtcNow, "outlier detection");
            }
            if (failure != AttemptFailure.None && proxied is not null)
            {
                _failure = (proxied.DestinationId, failure);
            }
            if (callAborted.IsCancellationRequested || context.Response.HasStarted)
            {
                return AttemptResult.Done;
            }
            var retry = RetryDecided
                || (failure != AttemptFailure.None && policy.RetriesFailure(failure) && MayRetry(failure));
            if (!retry && timedOut)
            {
                context.Response.Clear();
                await MeshResponses.WriteAsync(context, StatusCodes.Status504GatewayTimeout, "upstream-per-try-timeout", "upstream request timeout");
            }
            return retry ? AttemptResult.Again : AttemptResult.Done;
        }

        /// <summary>Whether the status the transform sees is retried; withdraws from the budget if so.</summary>
        public bool ShouldRetryStatus(int status) => policy.RetriesStatus(status) && MayRetry(AttemptFailure.None);

        public void Finish()
        {
            if (_retryStarted)
            {
                resilience.EndRetry();
                _retryStarted = false;
            }
        }

        private bool MayRetry(AttemptFailure failure)
        {
            if (!replayable || _number >= policy.Attempts)
            {
                return false;
            }
            if (resilience.AdmitRetry(failure, ref _retryStarted, out var refusedBy))
            {
                return true;
            }
            if (refusedBy == "budget")
            {
                SidecarTelemetry.RetriesBudgetExhausted.Add(1, new TagList { { "destination", cluster.Host } });
            }
            else
            {
                SidecarTelemetry.Overflows.Add(1, new TagList { { "destination", cluster.Host }, { "limit", refusedBy } });
            }
            return false;
        }

        private void PrepareRetry()
        {
            var reason = context.Features.Get<OutboundCall>()?.LastOutcome ?? "";
            SidecarTelemetry.Retries.Add(1, new TagList { { "destination", cluster.Host }, { "reason", reason } });
            context.Response.Clear();
            // The forwarder never resets its error feature; left set, the next attempt would be blamed.
            context.Features.Set<IForwarderErrorFeature>(null);
            if (context.Request.Body.CanSeek)
            {
                context.Request.Body.Position = 0;
            }
        }

        /// <summary>Endpoints not ejected and not tried yet; if every one was tried, the untried rule is relaxed; if every one is ejected, all of them (Envoy's panic routing).</summary>
        private IReadOnlyList<DestinationState> Candidates()
        {
            var outliers = resilience.Outliers;
            var local = resilience.Local;
            if (_tried.Count == 0 && !local.Any && (outliers is null || !AnyEjected(outliers)))
            {
                return _all; // the common first attempt: nothing to filter, nothing to allocate
            }
            if (_tried.Count == 0 && local.Any && local.TryClaimProbe(_all, IdOf) is { } probe)
            {
                // This call probes an endpoint whose backoff is over; if it still cannot connect, the
                // call is retried elsewhere outside the budget.
                return [_all.First(d => d.DestinationId == probe)];
            }
            var live = _all.Where(d => !local.IsEjected(d.DestinationId) && outliers?.IsEjected(d.DestinationId) != true).ToList();
            if (live.Count == 0)
            {
                live = [.. _all];
            }
            var untried = live.Where(d => !_tried.Contains(d)).ToList();
            return untried.Count > 0 ? untried : live;
        }

        private static readonly Func<DestinationState, string> IdOf = d => d.DestinationId;

        private bool AnyEjected(OutlierDetector outliers)
        {
            if (!outliers.AnyEjected)
            {
                return false;
            }
            for (var i = 0; i < _all.Count; i++)
            {
                if (outliers.IsEjected(_all[i].DestinationId))
                {
                    return true;
                }
            }
            return false;
        }

        private (int Status, AttemptFailure Failure) Classify(bool timedOut)
        {
            if (timedOut)
            {
                return (504, AttemptFailure.PerTryTimeout);
            }
            var error = context.Features.Get<IForwarderErrorFeature>();
            if (error is null || error.Error == ForwarderError.None)
            {
                return (context.Response.StatusCode, AttemptFailure.None);
            }
            return Classify(error.Error, error.Exception);
        }

        /// <summary>What a failed attempt was, in Envoy's <c>retryOn</c> terms, from YARP's error and the exception under it.</summary>
        internal static (int Status, AttemptFailure Failure) Classify(ForwarderError error, Exception? exception) => error switch
        {
            ForwarderError.Request when exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError } => (502, AttemptFailure.ConnectFailure),
            // SocketsHttpHandler's ConnectTimeout: no connection within 5 s.
            ForwarderError.Request when exception is HttpRequestException { InnerException: TimeoutException } => (502, AttemptFailure.ConnectFailure),
            ForwarderError.Request when exception?.InnerException is System.Net.Sockets.SocketException => (502, AttemptFailure.ConnectFailure),
            ForwarderError.Request when IsRefusedStream(exception) => (502, AttemptFailure.RefusedStream),
            // Reading the caller's body failed (Kestrel cut a client trickling it, or it sent a malformed
            // one) and the request to the endpoint failed with it: the caller's fault, not the endpoint's.
            ForwarderError.Request when IsCallersBadRequest(exception) => (0, AttemptFailure.None),
            ForwarderError.Request or ForwarderError.ResponseHeaders => (502, AttemptFailure.Reset),
            ForwarderError.RequestTimedOut => (504, AttemptFailure.PerTryTimeout),
            // The caller went away or stopped reading (a client that times out, a load generator that stops,
            // an app shutting down with calls in flight): nothing the endpoint did. Counted against it, a
            // few callers leaving at once ejected a healthy endpoint for 30 s.
            ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
                or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient
                or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeRequestClient
                or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeResponseClient => (0, AttemptFailure.None),
            _ => (502, AttemptFailure.Reset),
        };

        /// <summary>
        /// An HTTP/2 stream the server did not process, before any response: reset with REFUSED_STREAM, or
        /// dropped when the server closed the connection gracefully (GOAWAY with NO_ERROR, as a draining
        /// sidecar does). Envoy (through nghttp2) reports both as a refused stream, which is safe to retry.
        /// </summary>
        private static bool IsRefusedStream(Exception? exception) =>
            (exception as HttpProtocolException ?? exception?.InnerException as HttpProtocolException) is { ErrorCode: NoError or RefusedStream };

        private static bool IsCallersBadRequest(Exception? exception)
        {
            for (var e = exception; e is not null; e = e.InnerException)
            {
                if (e is BadHttpRequestException || (e is AggregateException all && all.InnerExceptions.Any(IsCallersBadRequest)))
                {
                    return true;
                }
            }
            return false;
        }

        private const long NoError = 0x0;
        private const long RefusedStream = 0x7;
    }
}

/// <summary>An attempt's outcome for Polly: whether to try again.</summary>
internal sealed record AttemptResult(bool Retry)
{
    public static readonly AttemptResult Again = new(true);
    public static readonly AttemptResult Done = new(false);
}
