using System.Diagnostics;
using Mesh.Core.Resilience;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Telemetry;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// The one place that decides whether an attempt is retried. Its inputs: how the attempt ended (an
/// <see cref="AttemptOutcome"/>, or an answer's status seen by the response transform before its body),
/// the route's <see cref="RetryPolicy"/> (conditions and number of retries), the call's attempt number,
/// whether the body can be sent again, and the cluster's limits (<c>connectionPool.http.maxRetries</c>
/// and the retry budget). The attempts step, the response transform and the connection handler only
/// report what happened; none of them decides. One per call, made by the resilience step.
/// </summary>
internal sealed class RetryDecision(OutboundCall call, RoutedCluster cluster, bool replayable)
{
    private readonly RetryPolicy _policy = call.RetryPolicy;
    private bool _holdsRetrySlot;
    private bool _answerRetried;

    public RetryPolicy Policy => _policy;

    /// <summary>
    /// Asked when an answer's headers arrive, before its body is copied: true if it will be retried, so
    /// its body must be held back. The budget is drawn here, once; the attempt's end then only reads it.
    /// </summary>
    public bool RetriesAnswer(int status)
    {
        _answerRetried = _policy.RetriesStatus(status) && MayRetry(AttemptFailure.None);
        return _answerRetried;
    }

    /// <summary>Whether the attempt that just ended as <paramref name="outcome"/> is retried.</summary>
    public bool Retries(AttemptOutcome outcome)
    {
        if (_answerRetried)
        {
            _answerRetried = false;
            return true;
        }
        return outcome.Failure != AttemptFailure.None && _policy.RetriesFailure(outcome.Failure) && MayRetry(outcome.Failure);
    }

    /// <summary>The call is over: gives back its <c>maxRetries</c> slot, if it took one.</summary>
    public void Finish()
    {
        if (_holdsRetrySlot)
        {
            cluster.Resilience.EndRetry();
            _holdsRetrySlot = false;
        }
    }

    private bool MayRetry(AttemptFailure failure)
    {
        if (!replayable || call.Attempt > _policy.Attempts)
        {
            return false;
        }
        if (Admit(failure, out var refusedBy))
        {
            return true;
        }
        var host = cluster.Definition.Host;
        if (refusedBy == "budget")
        {
            SidecarTelemetry.RetriesBudgetExhausted.Add(1, new TagList { { "destination", host } });
        }
        else
        {
            SidecarTelemetry.Overflows.Add(1, new TagList { { "destination", host }, { "limit", refusedBy } });
        }
        return false;
    }

    /// <summary>
    /// Whether the cluster's limits allow one more retry after an attempt that failed as
    /// <paramref name="failure"/>, and if not, which refused it (<c>max-retries</c> or <c>budget</c>). The
    /// first retry of a call takes one of <c>connectionPool.http.maxRetries</c> slots (given back by
    /// <see cref="Finish"/>). Retries of attempts that never reached an app (no connection, or a stream the
    /// peer refused unprocessed) do not draw on the budget: the budget stops retry storms against
    /// overloaded apps, and these cost an app nothing; an instance that died made every call that picked
    /// it such a retry, and drew the budget dry in seconds.
    /// </summary>
    internal bool Admit(AttemptFailure failure, out string? refusedBy)
    {
        refusedBy = null;
        var resilience = cluster.Resilience;
        if (!_holdsRetrySlot)
        {
            if (!resilience.TryStartRetry())
            {
                refusedBy = "max-retries";
                return false;
            }
            _holdsRetrySlot = true;
        }
        if (failure is AttemptFailure.ConnectFailure or AttemptFailure.RefusedStream)
        {
            return true;
        }
        if (!resilience.Budget.TryWithdraw())
        {
            refusedBy = "budget";
            return false;
        }
        return true;
    }
}
