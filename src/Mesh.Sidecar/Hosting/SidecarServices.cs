using Mesh.Sidecar.Admin;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.ControlPlane;
using Mesh.Sidecar.Inbound;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Registration;
using Mesh.Sidecar.Resilience;
using Mesh.Sidecar.Security;
using Mesh.Sidecar.Telemetry;
using Mesh.Sidecar.Transport;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;

namespace Mesh.Sidecar.Hosting;

internal static class SidecarServices
{
    /// <summary>Registers the sidecar's parts; TryAdd lets a test or a later feature swap one (e.g. the transport).</summary>
    public static IServiceCollection AddMeshSidecar(this IServiceCollection services, SidecarOptions options, BenchmarkSwitches? switches = null)
    {
        services.AddSingleton(options);
        services.AddSingleton(switches ?? BenchmarkSwitches.None);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<MeshTransport>();
        services.AddSingleton<WorkloadIdentity>();
        services.AddSingleton<IdentityAgent>();
        services.AddHostedService(sp => sp.GetRequiredService<IdentityAgent>());
        services.AddSingleton<InboundTls>();
        services.AddSingleton<Tcp.TcpConnector>();
        services.AddSingleton<Tcp.TcpProxy>();
        services.AddSingleton<Readiness>();
        services.AddSingleton<MeshState>();
        services.AddSingleton<ControlPlaneTrust>();
        services.AddSingleton<ControlPlaneClient>();
        services.AddHostedService<Peering.FederatedTrust>();
        services.AddSingleton<Peering.RemoteLatency>();
        services.AddSingleton<AppHealthChecker>();
        services.AddSingleton<RegistrationAgent>();
        services.AddHostedService(sp => sp.GetRequiredService<RegistrationAgent>());
        services.AddSingleton<Discovery.AgentRegistrations>();
        services.AddHostedService(sp => sp.GetRequiredService<Discovery.AgentRegistrations>());
        if (options.ConsulPort != 0)
        {
            services.AddSingleton<Discovery.ConsulAgent>();
            services.AddHostedService(sp => sp.GetRequiredService<Discovery.ConsulAgent>());
            services.AddSingleton<Discovery.ConsulApi>();
        }
        if (options.Gateway is not null)
        {
            services.AddSingleton<Gateway.GatewayListeners>();
            services.AddHostedService<Gateway.GatewayCertificateWatcher>();
        }
        services.AddSingleton<MeshProxyConfigProvider>();
        services.AddSingleton<IProxyConfigProvider>(sp => sp.GetRequiredService<MeshProxyConfigProvider>());
        services.AddSingleton<IConfigChangeListener>(sp => sp.GetRequiredService<MeshProxyConfigProvider>());
        services.AddSingleton<ProxyConfigBuilder>();
        services.AddSingleton<SnapshotApplier>();
        services.AddHostedService<SnapshotWatcher>();
        services.AddSingleton<InboundForwarder>();
        services.AddSingleton<AdminHandler>();
        services.AddSingleton<SidecarGauges>();
        services.AddReverseProxy().AddTransforms<AttemptTransforms>();
        // YARP registers ASP.NET Core authorization for routes that name an AuthorizationPolicy; the
        // sidecar's routes never do (inbound calls are authorized by InboundForwarder), and with these
        // services present the web host would put the authorization middleware on every call.
        services.RemoveAll<Microsoft.AspNetCore.Authorization.IAuthorizationHandlerProvider>();
        services.AddSingleton<ResilienceRegistry>();
        services.AddSingleton<MirrorSender>();
        services.AddSingleton<PassthroughForwarder>();
        services.AddSingleton<ILoadBalancingPolicy, ConsistentHashPolicy>();
        services.AddSingleton<IForwarderHttpClientFactory, MeshForwarderHttpClientFactory>();
        return services;
    }
}
