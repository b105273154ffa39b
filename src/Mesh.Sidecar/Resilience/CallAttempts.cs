using System.Diagnostics;
using Mesh.Core.Resilience;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Telemetry;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// Makes the attempts of one call: each to an endpoint not tried yet and not ejected, holding a
/// connection-pool permit, cut by the per-try timeout; after each it classifies how the attempt ended,
/// reports that to the call (<see cref="OutboundCall.Report"/>) and to the cluster's outlier and
/// local-origin detectors, and asks <see cref="RetryDecision"/> whether to go again.
/// </summary>
internal sealed class CallAttempts(HttpContext context, OutboundCall call, RoutedCluster cluster, RetryDecision decision, ILogger logger)
{
    private readonly IReadOnlyList<DestinationState> _all = context.GetReverseProxyFeature().AvailableDestinations;
    private readonly List<DestinationState> _tried = [];
    private AttemptResult? _first;

    public HttpContext Context => context;

    public OutboundCall Call => call;

    public string ClusterId => cluster.Definition.Id;

    /// <summary>The endpoint and kind of the last failed attempt, for the call's log line.</summary>
    public (string Endpoint, AttemptFailure Failure)? LastFailure { get; private set; }

    /// <summary>The first attempt, made outside Polly; its result is what Polly's first execution hands back.</summary>
    public async ValueTask<AttemptResult> RunFirstAsync(RequestDelegate next, CancellationToken callAborted)
    {
        var result = await RunAsync(next, callAborted);
        _first = result;
        return result;
    }

    /// <summary>Polly's execution: the first hands back the attempt already made, each later one makes a retry.</summary>
    public ValueTask<AttemptResult> NextAsync(RequestDelegate next, CancellationToken callAborted)
    {
        if (_first is { } first)
        {
            _first = null;
            return ValueTask.FromResult(first);
        }
        return RunAsync(next, callAborted);
    }

    private async ValueTask<AttemptResult> RunAsync(RequestDelegate next, CancellationToken callAborted)
    {
        if (call.Attempt > 0)
        {
            PrepareRetry();
        }
        // Never empty: the routing step has already answered 503 for a cluster without endpoints.
        context.GetReverseProxyFeature().AvailableDestinations = Candidates();
        var resilience = cluster.Resilience;
        using var lease = resilience.Limiter is { } limiter ? await limiter.AcquireAsync(1, callAborted) : null;
        if (lease is { IsAcquired: false })
        {
            context.Response.Headers["x-mesh-overflow"] = resilience.OverflowLimit;
            SidecarTelemetry.Overflows.Add(1, new TagList { { "destination", cluster.Definition.Host }, { "limit", resilience.OverflowLimit } });
            await MeshResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "overflow",
                $"mesh: '{cluster.Definition.Host}' is at its connectionPool limit ({resilience.OverflowLimit}).");
            return AttemptResult.Done;
        }

        var perTryTimeout = decision.Policy.PerTryTimeout;
        using var perTry = perTryTimeout is not null ? CancellationTokenSource.CreateLinkedTokenSource(callAborted) : null;
        var outer = context.RequestAborted;
        if (perTry is not null)
        {
            perTry.CancelAfter(perTryTimeout!.Value);
            context.RequestAborted = perTry.Token;
        }
        call.BeginAttempt();
        try
        {
            await next(context);
        }
        finally
        {
            context.RequestAborted = outer;
        }
        var timedOut = perTry is { IsCancellationRequested: true } && !callAborted.IsCancellationRequested;
        var outcome = AttemptClassifier.Classify(context, timedOut);
        call.Report(outcome);
        if (context.GetReverseProxyFeature().ProxiedDestination is { } proxied)
        {
            _tried.Add(proxied);
            ReportToDetectors(proxied.DestinationId, outcome);
        }
        if (callAborted.IsCancellationRequested || context.Response.HasStarted)
        {
            return AttemptResult.Done;
        }
        var retry = decision.Retries(outcome);
        if (!retry && timedOut)
        {
            context.Response.Clear();
            await MeshResponses.WriteAsync(context, StatusCodes.Status504GatewayTimeout, "upstream-per-try-timeout", "upstream request timeout");
        }
        return retry ? AttemptResult.Again : AttemptResult.Done;
    }

    /// <summary>Every attempt that reached an endpoint feeds its cluster's detectors, unless the caller left (not the endpoint's fault).</summary>
    private void ReportToDetectors(string endpoint, AttemptOutcome outcome)
    {
        var resilience = cluster.Resilience;
        if (outcome.CallerLeft)
        {
            resilience.Local.Release(endpoint);
            return;
        }
        if (resilience.Local.Record(endpoint, outcome.Failure == AttemptFailure.ConnectFailure))
        {
            SidecarTelemetry.Ejections.Add(1, new TagList { { "destination", cluster.Definition.Host }, { "reason", "local-origin" } });
            ResilienceStep.Ejected(logger, endpoint, cluster.Definition.Id, resilience.Local.EjectedUntil(endpoint) ?? DateTimeOffset.UtcNow, "unreachable");
        }
        if (resilience.Outliers is { } outliers && outliers.Record(endpoint, outcome.Status, _all.Count))
        {
            SidecarTelemetry.Ejections.Add(1, new TagList { { "destination", cluster.Definition.Host }, { "reason", "outlier-detection" } });
            ResilienceStep.Ejected(logger, endpoint, cluster.Definition.Id, outliers.EjectedUntil(endpoint) ?? DateTimeOffset.UtcNow, "outlier detection");
        }
        if (outcome.Failure != AttemptFailure.None)
        {
            LastFailure = (endpoint, outcome.Failure);
        }
    }

    private void PrepareRetry()
    {
        SidecarTelemetry.Retries.Add(1, new TagList { { "destination", cluster.Definition.Host }, { "reason", call.LastOutcome?.Reason ?? "" } });
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
        var outliers = cluster.Resilience.Outliers;
        var local = cluster.Resilience.Local;
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
}
