using Mesh.Core.Routing;
using Mesh.Sidecar.Hosting;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Outbound;

/// <summary>
/// Proxy-pipeline step before load balancing: narrows the destinations to the caller's preferred
/// locality when the destination's policy turns locality load balancing on (see <see cref="LocalityPreference"/>).
/// </summary>
internal sealed class LocalityStep(RequestDelegate next, SidecarOptions options, Peering.RemoteLatency latency)
{
    public const string RegionKey = "region";
    public const string ZoneKey = "zone";

    private static readonly Func<DestinationState, (string?, string?)> LocalityOf = d =>
        d.Model.Config.Metadata is { } metadata
            ? (metadata.GetValueOrDefault(RegionKey), metadata.GetValueOrDefault(ZoneKey))
            : (null, null);

    public Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        if (proxy.AvailableDestinations.Count > 1
            && context.Features.Get<Mesh.Sidecar.Telemetry.OutboundCall>()?.Cluster?.Definition is { Locality: { } setting })
        {
            var preferred = LocalityPreference.Select(proxy.AvailableDestinations, LocalityOf, options.Region, options.Zone, setting, Random.Shared);
            // Among remote regions the rules rank equal, the nearest by measured round trip (docs/regions.md).
            proxy.AvailableDestinations = latency.Prefer(preferred, options.Region, Random.Shared);
        }
        return next(context);
    }
}
