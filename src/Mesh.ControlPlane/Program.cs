using System.Net;
using Mesh.ControlPlane.Admin;
using Mesh.ControlPlane.Distribution;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Registry;
using Mesh.ControlPlane.Security;
using Mesh.Core.Hosting;
using Mesh.Core.Snapshots;
using Mesh.ControlPlane.Telemetry;
using Mesh.Observability;

ControlPlaneOptions options;
try
{
    if (args.Contains("--help"))
    {
        Console.Write(CommandLine.Usage("mesh-control-plane", "Serves the registry, routing config and snapshots to sidecars.", ControlPlaneOptions.Flags));
        return 0;
    }
    options = ControlPlaneOptions.Parse(args);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"mesh-control-plane: {e.Message}");
    return CommandLine.UsageExitCode;
}

Directory.CreateDirectory(options.DataDir);
var certificates = ControlPlaneCertificates.LoadOrCreate(options.DataDir, TimeProvider.System);

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Listen(IPAddress.Parse(options.Listen), options.Port, listen => listen.UseHttps(https =>
    {
        https.ServerCertificate = certificates.Serving;
        https.ServerCertificateChain = [certificates.Root];
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
builder.Services.AddMeshControlPlane(options);
builder.Services.AddMeshObservability(ControlPlaneTelemetry.Options(options));

var app = builder.Build();
app.UseMeshMetricsEndpoint();
app.Services.StartMeshControlPlane();

// Each API answers only on its own port.
var sidecarApi = app.MapGroup("").AddEndpointFilter(OnPort(options.Port));
sidecarApi.MapRegistry();
sidecarApi.MapSnapshots();
// The root is public: sidecars without --ca-cert fetch it once and pin it.
sidecarApi.MapGet("/v1/ca/root", () => Results.Text(certificates.Root.ExportCertificatePem(), "application/x-pem-file"));
app.MapGroup("").AddEndpointFilter(OnPort(options.AdminPort)).MapAdmin();

Log.Started(app.Logger, options.Listen, options.Port, options.AdminPort, Path.Combine(options.DataDir, "ca", "root.crt"));
await app.RunAsync();
return 0;

static Func<EndpointFilterInvocationContext, EndpointFilterDelegate, ValueTask<object?>> OnPort(int port) =>
    (context, next) => context.HttpContext.Connection.LocalPort == port ? next(context) : ValueTask.FromResult<object?>(Results.NotFound());
