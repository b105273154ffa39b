using Mesh.Core.Config.Model;
using Mesh.Core.Routing;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Outbound;

/// <summary>
/// DestinationRule <c>consistentHash</c>: requests with the same header, cookie, query parameter or
/// source IP go to the same endpoint (<see cref="RendezvousHash"/>). A request without the key is
/// spread at random; with <c>httpCookie.ttl</c> the sidecar sets the cookie, as Envoy does.
/// </summary>
internal sealed class ConsistentHashPolicy : ILoadBalancingPolicy
{
    public const string PolicyName = "MeshConsistentHash";

    private static readonly Func<DestinationState, string> IdOf = d => d.DestinationId;

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 0)
        {
            return null;
        }
        var key = context.Features.Get<Mesh.Sidecar.Telemetry.OutboundCall>()?.Cluster?.Definition is { ConsistentHash: { } hash }
            ? HashKey(context, hash)
            : null;
        return key is null
            ? availableDestinations[Random.Shared.Next(availableDestinations.Count)]
            : RendezvousHash.Pick(availableDestinations, key, IdOf);
    }

    private static string? HashKey(HttpContext context, ConsistentHashSettings hash)
    {
        if (hash.HttpHeaderName is { } header)
        {
            return context.Request.Headers.TryGetValue(header, out var value) ? value.ToString() : null;
        }
        if (hash.HttpQueryParameterName is { } query)
        {
            return context.Request.Query.TryGetValue(query, out var value) ? value.ToString() : null;
        }
        if (hash.UseSourceIp == true)
        {
            return context.Connection.RemoteIpAddress?.ToString();
        }
        if (hash.HttpCookie is { } cookie)
        {
            if (context.Request.Cookies.TryGetValue(cookie.Name, out var value))
            {
                return value;
            }
            if (cookie.Ttl is { } ttl && ttl > TimeSpan.Zero)
            {
                var generated = Guid.NewGuid().ToString("N");
                context.Response.Cookies.Append(cookie.Name, generated, new CookieOptions { Path = cookie.Path ?? "/", MaxAge = ttl, HttpOnly = true });
                return generated;
            }
        }
        return null;
    }
}
