using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// Per-attempt transforms of the resilience step. Holds back the body of an upstream answer that will be retried (e.g. a 503 under retryOn 5xx), so
/// nothing of it reaches the caller and the next attempt can answer instead (see YARP-NOTES: the
/// forwarder copies status and headers first; with the body suppressed the response has not started).
/// </summary>
internal sealed class RetryResponseTransform : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        // connectionPool.http.maxRequestsPerConnection: 1 turns keep-alive off towards that destination.
        context.AddRequestTransform(static transform =>
        {
            if (transform.HttpContext.Features.Get<ResilienceStep.CallAttempts>() is { CloseEachConnection: true })
            {
                transform.ProxyRequest.Headers.ConnectionClose = true;
            }
            return default;
        });
        context.AddResponseTransform(static transform =>
        {
            if (transform.ProxyResponse is { } response
                && transform.HttpContext.Features.Get<ResilienceStep.CallAttempts>() is { } attempts
                && attempts.ShouldRetryStatus((int)response.StatusCode))
            {
                attempts.RetryDecided = true;
                transform.SuppressResponseBody = true;
            }
            return default;
        });
    }
}
