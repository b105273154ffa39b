using Mesh.Core.Resilience;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Sidecar.Resilience;

/// <summary>What a finished attempt was, in Envoy's <c>retryOn</c> terms, from what the forwarder left on the context.</summary>
internal static class AttemptClassifier
{
    private const long NoError = 0x0;
    private const long RefusedStream = 0x7;

    /// <summary>The outcome of the attempt just made; <paramref name="timedOut"/> when its perTryTimeout cut it.</summary>
    public static AttemptOutcome Classify(HttpContext context, bool timedOut)
    {
        if (timedOut)
        {
            return new(504, AttemptFailure.PerTryTimeout);
        }
        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is null || error.Error == ForwarderError.None)
        {
            return new(context.Response.StatusCode, AttemptFailure.None);
        }
        return Classify(error.Error, error.Exception);
    }

    /// <summary>A failed attempt from YARP's error and the exception under it.</summary>
    public static AttemptOutcome Classify(ForwarderError error, Exception? exception) => error switch
    {
        ForwarderError.Request when exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError } => new(502, AttemptFailure.ConnectFailure),
        // SocketsHttpHandler's ConnectTimeout: no connection within 5 s.
        ForwarderError.Request when exception is HttpRequestException { InnerException: TimeoutException } => new(502, AttemptFailure.ConnectFailure),
        ForwarderError.Request when exception?.InnerException is System.Net.Sockets.SocketException => new(502, AttemptFailure.ConnectFailure),
        ForwarderError.Request when IsRefusedStream(exception) => new(502, AttemptFailure.RefusedStream),
        // Reading the caller's body failed (Kestrel cut a client trickling it, or it sent a malformed
        // one) and the request to the endpoint failed with it: the caller's fault, not the endpoint's.
        ForwarderError.Request when IsCallersBadRequest(exception) => new(0, AttemptFailure.None),
        ForwarderError.Request or ForwarderError.ResponseHeaders => new(502, AttemptFailure.Reset),
        ForwarderError.RequestTimedOut => new(504, AttemptFailure.PerTryTimeout),
        // The caller went away or stopped reading (a client that times out, a load generator that stops,
        // an app shutting down with calls in flight): nothing the endpoint did. Counted against it, a
        // few callers leaving at once ejected a healthy endpoint for 30 s.
        ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
            or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient
            or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeRequestClient
            or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeResponseClient => new(0, AttemptFailure.None),
        _ => new(502, AttemptFailure.Reset),
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
}
