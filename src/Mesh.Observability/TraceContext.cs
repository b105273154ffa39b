using System.Diagnostics;

namespace Mesh.Observability;

/// <summary>
/// Trace context on outgoing hops, set by the mesh itself rather than by the runtime's HTTP
/// diagnostics (which would insert an unexported span of its own between ours and the next hop's,
/// leaving the next span orphaned in Jaeger). Handlers that use this switch the runtime's injection
/// off with <c>SocketsHttpHandler.ActivityHeadersPropagator = null</c>.
/// </summary>
public static class TraceContext
{
    /// <summary>Replaces whatever trace headers the request carried (the app's) with the context of <paramref name="parent"/>.</summary>
    public static void Inject(HttpRequestMessage request, Activity? parent)
    {
        var propagator = DistributedContextPropagator.Current;
        foreach (var field in propagator.Fields)
        {
            request.Headers.Remove(field);
        }
        if (parent is not null)
        {
            propagator.Inject(parent, request, static (carrier, name, value) =>
            {
                if (carrier is HttpRequestMessage message && value is not null)
                {
                    message.Headers.TryAddWithoutValidation(name, value);
                }
            });
        }
    }
}
