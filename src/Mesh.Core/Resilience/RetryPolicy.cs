using Mesh.Core.Config.Model;

namespace Mesh.Core.Resilience;

/// <summary>How an attempt to an upstream endpoint ended, as far as retry conditions care.</summary>
public enum AttemptFailure
{
    None,
    /// <summary>No connection could be made (refused, unreachable, connect timeout).</summary>
    ConnectFailure,
    /// <summary>The connection broke or was reset after the request was sent.</summary>
    Reset,
    /// <summary>An HTTP/2 stream was refused by the peer.</summary>
    RefusedStream,
    /// <summary>The attempt outlived its perTryTimeout (seen as 504).</summary>
    PerTryTimeout,
}

/// <summary>
/// A route's compiled retry policy with Envoy's meaning of each <c>retryOn</c> condition. A route with
/// no <c>retries</c> gets Istio's default: two retries on connect-failure, refused-stream, unavailable,
/// cancelled and retriable-status-codes (503).
/// </summary>
public sealed class RetryPolicy
{
    public static readonly RetryPolicy IstioDefault = new(2, null, "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes");
    public static readonly RetryPolicy None = new(0, null, "");

    private readonly bool _5xx;
    private readonly bool _gatewayError;
    private readonly bool _reset;
    private readonly bool _connectFailure;
    private readonly bool _refusedStream;
    private readonly bool _retriable4xx;
    private readonly HashSet<int> _statusCodes = [];

    public RetryPolicy(int attempts, TimeSpan? perTryTimeout, string retryOn)
    {
        Attempts = Math.Max(0, attempts);
        PerTryTimeout = perTryTimeout is { } t && t > TimeSpan.Zero ? t : null;
        var retriableStatusCodes = false;
        foreach (var condition in retryOn.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (condition)
            {
                case "5xx": _5xx = true; break;
                case "gateway-error": _gatewayError = true; break;
                case "reset": case "reset-before-request": _reset = true; break;
                case "connect-failure": _connectFailure = true; break;
                case "refused-stream": _refusedStream = true; break;
                case "retriable-4xx": _retriable4xx = true; break;
                case "retriable-status-codes": retriableStatusCodes = true; break;
                // gRPC conditions: an HTTP upstream answering 503 is gRPC's "unavailable".
                case "unavailable": _statusCodes.Add(503); break;
                default:
                    if (int.TryParse(condition, out var code))
                    {
                        _statusCodes.Add(code);
                    }
                    break;
            }
        }
        if (retriableStatusCodes && _statusCodes.Count == 0)
        {
            _statusCodes.Add(503); // Istio puts 503 in retriable_status_codes when none is named
        }
    }

    /// <summary>Retries after the first attempt (0: none).</summary>
    public int Attempts { get; }
    public TimeSpan? PerTryTimeout { get; }

    /// <summary>The policy a rule runs with: its own, or Istio's default when it sets none.</summary>
    public static RetryPolicy For(HttpRetry? retries) =>
        retries is null ? IstioDefault
        : retries.Attempts <= 0 ? None
        // Envoy retries on 5xx-class conditions when retryOn is empty but attempts are given.
        : new RetryPolicy(retries.Attempts, retries.PerTryTimeout, retries.RetryOn ?? "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes");

    /// <summary>Whether an answer with this status is worth another attempt.</summary>
    public bool RetriesStatus(int status) =>
        Attempts > 0 && (
            (_5xx && status >= 500)
            || (_gatewayError && status is 502 or 503 or 504)
            || (_retriable4xx && status == 409)
            || _statusCodes.Contains(status));

    /// <summary>Whether an attempt that failed this way is worth another.</summary>
    public bool RetriesFailure(AttemptFailure failure) =>
        Attempts > 0 && failure switch
        {
            AttemptFailure.ConnectFailure => _connectFailure || _5xx || _gatewayError,
            AttemptFailure.Reset => _reset || _5xx,
            AttemptFailure.RefusedStream => _refusedStream || _5xx,
            AttemptFailure.PerTryTimeout => _5xx || _gatewayError || _statusCodes.Contains(504),
            _ => false,
        };
}
