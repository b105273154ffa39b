using Mesh.Core.Resilience;
using Mesh.Sidecar.Telemetry;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// How one attempt ended, classified once: the status it counts as for outlier detection (0: the caller
/// left, nothing the endpoint did) and the failure in <c>retryOn</c> terms.
/// </summary>
internal readonly record struct AttemptOutcome(int Status, AttemptFailure Failure)
{
    /// <summary>The caller went away: not retried, not counted against the endpoint.</summary>
    public bool CallerLeft => Status == 0;

    /// <summary>The label a retry gets for it (<c>mesh_retries_total{reason}</c>, <c>mesh.retry.reason</c>).</summary>
    public string Reason => Failure switch
    {
        AttemptFailure.None => Status == 0 ? "cancelled" : OutboundTelemetryStep.StatusText(Status),
        AttemptFailure.ConnectFailure => "connect-failure",
        AttemptFailure.RefusedStream => "refused-stream",
        AttemptFailure.PerTryTimeout => "timeout",
        _ => "reset",
    };
}
