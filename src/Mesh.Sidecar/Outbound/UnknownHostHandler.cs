using Mesh.Core.Routing;
using Mesh.Sidecar.Configuration;

namespace Mesh.Sidecar.Outbound;

/// <summary>What an outbound call to a host the mesh does not know gets: 404 at once, naming the host and the known ones.</summary>
internal static class UnknownHostHandler
{
    public static Task HandleAsync(HttpContext context)
    {
        var state = context.RequestServices.GetRequiredService<MeshState>();
        var host = HostName.StripPort(context.Request.Host.Value ?? "");
        var known = string.Join(", ", state.Routes.KnownHosts);
        var message = host.Length == 0
            ? "mesh: the request names no host; call http://<service>/... through this proxy or set the Host header."
            : $"mesh: unknown host '{host}'. Known hosts: {(known.Length == 0 ? "(none yet)" : known)}.";
        return MeshResponses.WriteAsync(context, StatusCodes.Status404NotFound, "unknown-host", message);
    }
}
