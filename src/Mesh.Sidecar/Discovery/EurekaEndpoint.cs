using System.Net;
using Mesh.Sidecar.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.Sidecar.Discovery;

/// <summary>How Program puts the Eureka API on <c>--eureka-port</c> (127.0.0.1 only; nothing when it is 0). A taken port
/// stops the start with one line before the host starts (<see cref="Hosting.ListenerPorts"/>).</summary>
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
}
