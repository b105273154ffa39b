using Mesh.Core.Config.Model;
using Mesh.Core.Routing;
using Mesh.Core.Scoping;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Outbound;

/// <summary>
/// What an outbound call to a host this sidecar does not know gets. Under a Sidecar resource with
/// <c>outboundTrafficPolicy.mode: ALLOW_ANY</c> it is passed through to the host as named
/// (<see cref="PassthroughForwarder"/>); otherwise (REGISTRY_ONLY, Mesh's default) 404 at once: naming the
/// Sidecar resource when its egress hosts leave the host out (<c>not-in-sidecar-scope</c>), else naming the
/// host and the known ones (<c>unknown-host</c>).
/// </summary>
internal static class UnknownHostHandler
{
    public static Task HandleAsync(HttpContext context)
    {
        var state = context.RequestServices.GetRequiredService<MeshState>();
        var host = HostName.StripPort(context.Request.Host.Value ?? "");
        if (host.Length > 0 && state.Current?.Snapshot.Scope is { } scope)
        {
            if (scope.Mode == OutboundTrafficMode.AllowAny)
            {
                return context.RequestServices.GetRequiredService<PassthroughForwarder>().ForwardAsync(context);
            }
            var canonical = HostName.Canonical(host, context.RequestServices.GetRequiredService<SidecarOptions>().Namespace);
            if (!SidecarScope.Allows(scope, canonical))
            {
                return MeshResponses.WriteAsync(context, StatusCodes.Status404NotFound, "not-in-sidecar-scope",
                    $"mesh: host '{host}' is outside this workload's Sidecar {scope.Sidecar} (egress hosts: {string.Join(", ", scope.Hosts)}); add it to egress.hosts to call it.");
            }
        }
        var known = string.Join(", ", state.Routes.KnownHosts);
        var message = host.Length == 0
            ? "mesh: the request names no host; call http://<service>/... through this proxy or set the Host header."
            : $"mesh: unknown host '{host}'. Known hosts: {(known.Length == 0 ? "(none yet)" : known)}.";
        return MeshResponses.WriteAsync(context, StatusCodes.Status404NotFound, "unknown-host", message);
    }
}
