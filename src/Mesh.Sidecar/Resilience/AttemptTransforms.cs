using Mesh.Sidecar.Telemetry;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// What each attempt's upstream request and answer need from the call (YARP runs these per forwarded
/// attempt). On the way out: the call rides on the request's options, where the connection handler
/// (which sees no HttpContext) reads it; <c>maxRequestsPerConnection: 1</c> closes the connection. On the
/// way back: the answer's status is reported to the call's <see cref="RetryDecision"/> before its body is
/// copied, and if it will be retried its body is held back, so nothing of it reaches the caller and the
/// next attempt can answer instead (see YARP-NOTES: the forwarder copies status and headers first; with
/// the body suppressed the response has not started).
/// </summary>
internal sealed class AttemptTransforms : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        context.AddRequestTransform(static transform =>
        {
            if (transform.HttpContext.Features.Get<OutboundCall>() is { } call)
            {
                transform.ProxyRequest.Options.Set(OutboundCall.RequestKey, call);
                // connectionPool.http.maxRequestsPerConnection: 1 turns keep-alive off towards that destination.
                if (call.Cluster?.Resilience.CloseEachConnection == true)
                {
                    transform.ProxyRequest.Headers.ConnectionClose = true;
                }
            }
            return default;
        });
        context.AddResponseTransform(static transform =>
        {
            if (transform.ProxyResponse is { } response
                && transform.HttpContext.Features.Get<OutboundCall>()?.Retries is { } retries
                && retries.RetriesAnswer((int)response.StatusCode))
            {
                transform.SuppressResponseBody = true;
            }
            return default;
        });
    }
}
