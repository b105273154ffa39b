using Mesh.Observability;
using System.Diagnostics;

namespace Mesh.Sidecar.Telemetry;

/// <summary>
/// One client span per attempt to an upstream endpoint, inside the forwarder's connection handler:
/// a retried call shows each attempt, the endpoint it hit, how it ended and why the next one was
/// made. The span is current while the request is sent, so the trace context the next sidecar
/// receives names this attempt as its parent. It only describes: the attempt's number and the previous
/// attempt's outcome come from the call (on the request's options, put there by the attempt's request
/// transform), which the resilience step keeps.
/// </summary>
internal sealed class UpstreamAttemptHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var call = request.Options.TryGetValue(OutboundCall.RequestKey, out var found) ? found : null;
        // 0 only without the resilience step (the benchmark's MESH_BENCH_OFF=resilience): one attempt per call.
        var attempt = Math.Max(1, call?.Attempt ?? 1);
        using var span = SidecarTelemetry.Source.StartActivity(ActivityKind.Client);
        if (span is { IsAllDataRequested: true })
        {
            Describe(span, request, call, attempt);
        }
        // The next sidecar's span is a child of this attempt (or, unsampled, carries the caller's decision on).
        TraceContext.Inject(request, span ?? Activity.Current);
        var outcome = "error";
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            outcome = OutboundTelemetryStep.StatusText((int)response.StatusCode);
            span?.SetTag("http.response.status_code", (int)response.StatusCode);
            if ((int)response.StatusCode >= 500)
            {
                span?.SetStatus(ActivityStatusCode.Error, outcome);
            }
            return response;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            outcome = Outcome(e, cancellationToken);
            span?.SetStatus(ActivityStatusCode.Error, outcome);
            span?.SetTag("error.type", outcome);
            throw;
        }
        finally
        {
            span?.SetTag("mesh.outcome", outcome);
            SidecarTelemetry.Attempts.Add(1, new TagList { { "destination", call?.Destination ?? "" }, { "outcome", outcome } });
        }
    }

    private static void Describe(Activity span, HttpRequestMessage request, OutboundCall? call, int attempt)
    {
        var uri = request.RequestUri;
        span.DisplayName = $"attempt {call?.Destination ?? uri?.Host}";
        span.SetTag("http.request.method", request.Method.Method);
        span.SetTag("url.path", uri?.AbsolutePath);
        span.SetTag("server.address", uri?.Host);
        span.SetTag("server.port", uri?.Port);
        span.SetTag("mesh.attempt", attempt);
        if (call is not null)
        {
            span.SetTag("mesh.destination.service", call.Destination);
            span.SetTag("mesh.destination.subset", call.Subset);
            span.SetTag("mesh.route", call.Route);
            if (attempt > 1 && call.LastOutcome is { } previous)
            {
                span.SetTag("mesh.retry.reason", previous.Reason);
            }
        }
    }

    internal static string Outcome(Exception e, CancellationToken cancellationToken) => e switch
    {
        OperationCanceledException when cancellationToken.IsCancellationRequested => "cancelled",
        OperationCanceledException => "timeout",
        HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } => "connect-failure",
        HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded } => "reset",
        HttpRequestException { HttpRequestError: HttpRequestError.HttpProtocolError } => "protocol-error",
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => "tls-failure",
        _ => "error",
    };
}
