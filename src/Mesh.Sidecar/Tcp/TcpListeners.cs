using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.Sidecar.Tcp;

/// <summary>
/// The app's explicit TCP listeners on 127.0.0.1, one per <c>--tcp-upstream</c> and <c>--tls-upstream</c>.
/// Mesh has no traffic capture (Istio's iptables), so an app reaches a TCP service at a local port its
/// sidecar holds for it, as Consul Connect's upstreams do. Each listener is Kestrel connection middleware
/// that never reaches the HTTP server.
/// </summary>
internal static class TcpListeners
{
    public static void Listen(KestrelServerOptions kestrel, Hosting.SidecarOptions options)
    {
        foreach (var upstream in options.TcpUpstreams)
        {
            kestrel.Listen(IPAddress.Loopback, upstream.LocalPort, l =>
            {
                var proxy = l.ApplicationServices.GetRequiredService<TcpProxy>();
                l.Run(connection => proxy.OutboundAsync(connection, upstream));
            });
        }
        foreach (var upstream in options.TlsUpstreams)
        {
            kestrel.Listen(IPAddress.Loopback, upstream.LocalPort, l =>
            {
                var proxy = l.ApplicationServices.GetRequiredService<TcpProxy>();
                l.Run(connection => proxy.TlsOutboundAsync(connection, upstream));
            });
        }
    }
}
