using Mesh.Core.Routing;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Telemetry;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Outbound;

/// <summary>
/// First step of the outbound proxy pipeline: YARP has matched the host; this applies the host's
/// VirtualService rules in order (first match wins), picks a weighted destination and moves the
/// request to that destination's cluster. It answers by itself when no rule matches (404) or the
/// chosen service has no healthy endpoint (503), so the caller never waits.
/// </summary>
internal sealed class OutboundRoutingStep(RequestDelegate next, MeshState state, IProxyStateLookup lookup)
{
    public Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var hostKey = proxy.Route.Config.RouteId;
        if (!state.Routes.TryGetHost(hostKey, out var host))
        {
            return UnknownHostHandler.HandleAsync(context);
        }
        var rule = host.Match(new HttpRouteRequest(context));
        if (rule is null)
        {
            return MeshResponses.WriteAsync(context, StatusCodes.Status404NotFound, "no-route-match",
                $"mesh: no VirtualService rule for host '{host.Host}' matches {context.Request.Method} {context.Request.Path}.");
        }
        var destination = rule.Pick(Random.Shared);
        if (context.Features.Get<OutboundCall>() is { } call)
        {
            call.Destination = destination.Host;
            call.Subset = destination.Subset ?? "";
            call.Route = rule.Name ?? "";
        }
        if (proxy.Cluster?.Config.ClusterId != destination.ClusterId)
        {
            if (!lookup.TryGetCluster(destination.ClusterId, out var cluster))
            {
                return NoEndpoint(context, destination);
            }
            context.ReassignProxyRequest(cluster);
        }
        if (proxy.AvailableDestinations.Count == 0)
        {
            return NoEndpoint(context, destination);
        }
        return next(context);
    }

    private static Task NoEndpoint(HttpContext context, WeightedDestination destination)
    {
        var subset = destination.Subset is null ? "" : $" (subset {destination.Subset})";
        return MeshResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no-healthy-endpoint",
            $"mesh: no healthy endpoint for service '{destination.Host}'{subset}.");
    }
}
