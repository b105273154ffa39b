using System.Net;
using System.Net.Sockets;
using Mesh.Sidecar.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.Sidecar.Discovery;

/// <summary>How Program puts the Eureka API on <c>--eureka-port</c> (127.0.0.1 only; nothing when it is 0).</summary>
internal static class EurekaEndpoint
{
    public static IServiceCollection AddMeshEureka(this IServiceCollection services, SidecarOptions options)
    {
        if (options.EurekaPort != 0)
        {
            services.AddSingleton<EurekaAgent>();
            services.AddHostedService(sp => sp.GetRequiredService<EurekaAgent>());
            services.AddSingleton<EurekaHandler>();
        }
        return services;
    }

    public static void ListenEureka(this KestrelServerOptions kestrel, SidecarOptions options)
    {
        if (options.EurekaPort != 0)
        {
            kestrel.Listen(IPAddress.Loopback, options.EurekaPort, l => l.Protocols = HttpProtocols.Http1);
        }
    }

    public static void MapEureka(this IApplicationBuilder app, SidecarOptions options)
    {
        if (options.EurekaPort != 0)
        {
            app.MapWhen(c => c.Connection.LocalPort == options.EurekaPort,
                eureka => eureka.Run(eureka.ApplicationServices.GetRequiredService<EurekaHandler>().InvokeAsync));
        }
    }

    /// <summary>
    /// Why the Eureka port cannot be bound, in one line, or null. Checked before the host starts: Kestrel's
    /// own bind failure comes as a critical log line with a stack trace. (Another process can still take
    /// the port in between; then that is what the user sees.)
    /// </summary>
    public static string? PortProblem(SidecarOptions options)
    {
        if (options.EurekaPort == 0)
        {
            return null;
        }
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, options.EurekaPort));
            probe.Listen();
            return null;
        }
        catch (SocketException e)
        {
            return $"Eureka port 127.0.0.1:{options.EurekaPort} cannot be bound ({e.Message}); pass --eureka-port with a free port, or 0 to turn the Eureka API off";
        }
    }
}
