using Mesh.Core.Routing;
using Mesh.Sidecar.Outbound;

namespace Mesh.Sidecar.Gateway;

/// <summary>
/// First step on a gateway port, before the outbound pipeline: the request's host must be one a server of
/// this port serves (else 404 naming the hosts served), and an HTTP server with httpsRedirect answers
/// 301 to the HTTPS URL. Everything else goes on to the same routing, resilience and telemetry as a
/// sidecar's outbound port, with the route table of the VirtualServices bound to this Gateway.
/// </summary>
internal sealed class GatewayEntryStep(RequestDelegate next, GatewayListeners listeners)
{
    public Task InvokeAsync(HttpContext context)
    {
        var plan = listeners.Plan;
        var port = context.Connection.LocalPort;
        var host = context.Request.Host.Host;
        if (!plan.TryGetListener(port, out var listener) || listener.ServerFor(host) is not { } server)
        {
            var served = listener is null ? "none" : string.Join(", ", listener.Servers.SelectMany(s => s.Hosts).Distinct());
            return MeshResponses.WriteAsync(context, StatusCodes.Status404NotFound, "unknown-host",
                $"mesh gateway: host '{host}' is not served on port {listener?.PublicPort ?? port}. Hosts served there: {served}.");
        }
        if (server.HttpsRedirect)
        {
            var httpsPort = plan.HttpsPortFor(host);
            var authority = httpsPort == 443 ? host : $"{host}:{httpsPort}";
            context.Response.StatusCode = StatusCodes.Status301MovedPermanently;
            context.Response.Headers.Location = $"https://{authority}{context.Request.PathBase}{context.Request.Path}{context.Request.QueryString}";
            return Task.CompletedTask;
        }
        return next(context);
    }
}
