using System.Net;
using Mesh.ControlPlane.Admin;
using Mesh.ControlPlane.Distribution;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Limits;
using Mesh.ControlPlane.Peering;
using Mesh.ControlPlane.Registry;
using Mesh.ControlPlane.Security;
using Mesh.Core.Hosting;
using Mesh.Core.Snapshots;
using Mesh.ControlPlane.Telemetry;
using Mesh.Observability;

ControlPlaneOptions options;
try
{
    if (args.Any(a => a is "--help" or "-h"))
    {
        Console.Write(ControlPlaneOptions.Help());
        return 0;
    }
    options = ControlPlaneOptions.Parse(args);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"mesh-control-plane: {e.Message}");
    return Flags.UsageExitCode;
}

Directory.CreateDirectory(options.DataDir);
// One connection to etcd for everything on it; the CA root is read from it before the host is built.
Mesh.ControlPlane.Registry.Etcd.EtcdConnection? etcd = null;
MeshCertificateAuthority ca;
try
{
    if (options.Store == RegistryStoreKind.Etcd)
    {
        etcd = new Mesh.ControlPlane.Registry.Etcd.EtcdConnection(options.EtcdEndpoints, TimeProvider.System, options.EtcdSecurity);
        // A wrong password or certificate ends the start here, naming etcd and the user; etcd not up yet does not.
        if (await Mesh.ControlPlane.Registry.Etcd.EtcdStartupCheck.RunAsync(etcd, options.EtcdSecurity, CancellationToken.None) is { } waiting)
        {
            Console.Error.WriteLine($"mesh-control-plane: {waiting}; waiting for etcd");
        }
    }
    ca = etcd is not null && options.CaKeySecretFile is { } secret
        ? MeshCertificateAuthority.LoadOrCreate(options, TimeProvider.System, candidate => EtcdCaRoot.Share(etcd, secret, candidate))
        : MeshCertificateAuthority.LoadOrCreate(options, TimeProvider.System);
}
catch (Exception e) when (e is InvalidOperationException or System.Security.Cryptography.CryptographicException or IOException or StartupException)
{
    Console.Error.WriteLine($"mesh-control-plane: {e.Message}");
    return 1;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    RequestLimits.Apply(kestrel.Limits);
    kestrel.Listen(IPAddress.Parse(options.Listen), options.Port, listen => listen.UseHttps(https =>
    {
        https.ServerCertificate = ca.Serving;
        https.HandshakeTimeout = RequestLimits.TlsHandshakeTimeout;
        https.ServerCertificateChain = [ca.Root];
        // Any certificate may complete the handshake; MeshAuthentication judges it per request, so a
        // refusal is an HTTP answer with a reason and a log line.
        https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.AllowCertificate;
        https.AllowAnyClientCertificate();
    }));
    kestrel.Listen(IPAddress.Loopback, options.AdminPort);
});
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Services.ConfigureHttpJsonOptions(json =>
{
    foreach (var converter in MeshJson.Options.Converters)
    {
        json.SerializerOptions.Converters.Add(converter);
    }
});
builder.Services.AddSingleton(ca);
if (etcd is not null)
{
    builder.Services.AddSingleton(etcd);
}
builder.Services.AddMeshControlPlane(options);
builder.Services.AddMeshObservability(ControlPlaneTelemetry.Options(options));

var app = builder.Build();
try
{
    // Ports outside Kestrel are bound before the host starts: one in use ends the start with one line.
    app.Services.GetService<Mesh.ControlPlane.Discovery.DnsEndpoint>()?.Start();
}
catch (StartupException e)
{
    Console.Error.WriteLine($"mesh-control-plane: {e.Message}");
    return 1;
}
app.UseMeshMetricsEndpoint();
app.Services.StartMeshControlPlane();
// A call that needed etcd (a join token, a token list) while no member answered: 503 naming etcd, which
// clients retry (sidecars on another replica), rather than a 500.
app.Use(async (context, next) =>
{
    try
    {
        await next(context);
    }
    catch (Mesh.ControlPlane.Registry.Etcd.EtcdUnavailableException e) when (!context.Response.HasStarted)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        await context.Response.WriteAsync($"{e.Message}\n");
    }
});
app.UseMeshBodyLimits();
app.UseAuthentication();
app.UseAuthorization();
// After authorization, so the per-identity limits key on the identity the certificate proved.
app.UseRateLimiter();

// Each API answers only on its own port.
var sidecarApi = app.MapGroup("").AddEndpointFilter(OnPort(options.Port));
sidecarApi.MapCertificateAuthority();
sidecarApi.MapPeerApi();
var workloads = sidecarApi.MapGroup("").RequireAuthorization(MeshAuthentication.WorkloadPolicy);
workloads.MapRegistry();
workloads.MapSnapshots();
var adminApi = app.MapGroup("").AddEndpointFilter(OnPort(options.AdminPort));
adminApi.MapGet("/ready", () => Results.Text("ready\n"));
adminApi.MapGet("/live", () => Results.Text("live\n"));
adminApi.MapDashboardPages();
var admin = adminApi.MapGroup("").RequireAuthorization(MeshAuthentication.AdminPolicy);
admin.MapAdmin();
admin.MapConfigHistory();
admin.MapDashboardData();
admin.MapJoinTokens();
admin.MapPeeringAdmin();

Log.Started(app.Logger, options.Listen, options.Port, options.AdminPort, ca.RootPath, ca.TrustDomain, app.Services.GetRequiredService<AdminToken>().Path);
await app.RunAsync();
return 0;

static Func<EndpointFilterInvocationContext, EndpointFilterDelegate, ValueTask<object?>> OnPort(int port) =>
    (context, next) => context.HttpContext.Connection.LocalPort == port ? next(context) : ValueTask.FromResult<object?>(Results.NotFound());
