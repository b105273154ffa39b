using System.Net;
using Mesh.Core.Hosting;
using Mesh.Sidecar.Admin;
using EurekaEndpoint = Mesh.Sidecar.Discovery.EurekaEndpoint;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Inbound;
using Mesh.Observability;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Resilience;
using Mesh.Sidecar.Security;
using Mesh.Sidecar.Telemetry;
using Microsoft.AspNetCore.Server.Kestrel.Core;

SidecarOptions options;
BenchmarkSwitches switches;
try
{
    if (args.Any(a => a is "--help" or "-h"))
    {
        Console.Write(SidecarOptions.Help());
        return 0;
    }
    options = SidecarOptions.Parse(args);
    switches = BenchmarkSwitches.Parse(Environment.GetEnvironmentVariable(BenchmarkSwitches.Variable));
}
catch (UsageException e)
{
    Console.Error.WriteLine($"mesh-sidecar: {e.Message}");
    return Flags.UsageExitCode;
}

if (ListenerPorts.FirstTaken(options) is { } taken)
{
    Console.Error.WriteLine($"mesh-sidecar: {taken}");
    return 1;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Services.AddMeshObservability(SidecarTelemetryOptions.For(options, switches));
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
// The host's per-call lines (filtered out above) and its startup error, which also fails the start with
// an error of its own, are this category; while any level of it is on, the host opens a logging scope
// for every call. Unhandled exceptions in a call are Kestrel's, still logged.
builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
builder.Logging.AddFilter("Yarp", LogLevel.Warning);
// The forwarder logs every failed request at warning with its whole stack trace (~40 lines); the
// resilience step writes one rate-limited line per failed call instead (endpoint, kind, attempts, outcome).
builder.Logging.AddFilter("Yarp.ReverseProxy.Forwarder.HttpForwarder", LogLevel.Error);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    ListenerLimits.Apply(kestrel.Limits);
    // Apps call the sidecar in HTTP proxy style (absolute-form targets) or with a Host header.
    kestrel.Listen(IPAddress.Loopback, options.OutboundPort, l => l.Protocols = HttpProtocols.Http1);
    // Inbound: mutual TLS (HTTP/2 or HTTP/1.1 by ALPN), or plaintext HTTP/1.1 when PERMISSIVE; see InboundTls.
    kestrel.Listen(IPAddress.Parse(options.InboundListen), options.InboundPort, l => l.ApplicationServices.GetRequiredService<InboundTls>().Configure(l));
    kestrel.Listen(IPAddress.Loopback, options.AdminPort, l => l.Protocols = HttpProtocols.Http1);
    if (options.ConsulPort != 0)
    {
        kestrel.Listen(IPAddress.Loopback, options.ConsulPort, l => l.Protocols = HttpProtocols.Http1);
    }
    EurekaEndpoint.ListenEureka(kestrel, options);
    Mesh.Sidecar.Tcp.TcpListeners.Listen(kestrel, options);
    if (options.Gateway is not null)
    {
        // The Gateway's ports are known only once its config arrives and change with it: Kestrel binds
        // them from this reloading source (GatewayEndpoints) and asks GatewayListeners to add TLS.
        var listeners = kestrel.ApplicationServices.GetRequiredService<Mesh.Sidecar.Gateway.GatewayListeners>();
        kestrel.ConfigureEndpointDefaults(listeners.ConfigureEndpoint);
        kestrel.Configure(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Add(listeners.Endpoints).Build(), reloadOnChange: true);
    }
});
builder.Services.AddMeshSidecar(options, switches);
EurekaEndpoint.AddMeshEureka(builder.Services, options);
// The drain delay runs in RegistrationAgent.StoppingAsync; then Kestrel waits this long for in-flight calls.
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainDelay + options.DrainTimeout);

var app = builder.Build();
_ = app.Services.GetRequiredService<SidecarGauges>();

// The three listeners share one process; each port gets its own short pipeline.
app.UseMeshMetricsEndpoint();
app.MapWhen(c => c.Connection.LocalPort == options.AdminPort, admin => admin.Run(admin.ApplicationServices.GetRequiredService<AdminHandler>().InvokeAsync));
if (options.ConsulPort != 0)
{
    app.MapWhen(c => c.Connection.LocalPort == options.ConsulPort, consul => consul.Run(consul.ApplicationServices.GetRequiredService<Mesh.Sidecar.Discovery.ConsulApi>().InvokeAsync));
}
EurekaEndpoint.MapEureka(app, options);
app.MapWhen(c => c.Connection.LocalPort == options.InboundPort, inbound =>
{
    var forwarder = inbound.ApplicationServices.GetRequiredService<InboundForwarder>();
    inbound.Run(switches.Inbound ? forwarder.InvokeAsync : forwarder.ForwardOnlyAsync);
});
app.UseWhen(c => c.Connection.LocalPort == options.OutboundPort, outbound =>
{
    if (switches.Telemetry)
    {
        outbound.UseMiddleware<OutboundTelemetryStep>();
    }
    else
    {
        outbound.Use((context, next) => { OutboundCall.Begin(context); return next(context); });
    }
});
if (options.Gateway is not null)
{
    var listeners = app.Services.GetRequiredService<Mesh.Sidecar.Gateway.GatewayListeners>();
    app.UseWhen(c => listeners.IsListening(c.Connection.LocalPort), gateway =>
    {
        // The trace of an outside caller starts here, as a sidecar's outbound span.
        gateway.UseMiddleware<OutboundTelemetryStep>();
        gateway.UseMiddleware<Mesh.Sidecar.Gateway.GatewayEntryStep>();
    });
}
app.UseRouting();
app.MapReverseProxy(pipeline =>
{
    // The benchmark's switches decide here, once, which steps exist; a request never checks them.
    pipeline.UseMiddleware<OutboundRoutingStep>();
    if (switches.Resilience)
    {
        pipeline.UseMiddleware<ResilienceStep>();
    }
    if (switches.Locality)
    {
        pipeline.UseMiddleware<LocalityStep>();
    }
    pipeline.UseLoadBalancing();
    // No UsePassiveHealthChecks: outlier detection (ResilienceStep) ejects endpoints; YARP's passive
    // checks are never configured, and the step would cost every call an async frame.
});
app.MapFallback(UnknownHostHandler.HandleAsync);

if (switches.AnyOff)
{
    Log.BenchmarkSwitchesOff(app.Logger, BenchmarkSwitches.Variable, switches.ToString());
}
Log.Started(app.Logger, options.InstanceId, options.Service, options.Namespace, options.OutboundPort, options.InboundListen, options.InboundPort, options.AdminPort, options.AppPort);
await app.RunAsync();
return 0;
