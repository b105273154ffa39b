// Client-side discovery for .NET with Mesh: this app calls "web" with its own HttpClient, no sidecar hop,
// and runs a YARP gateway of its own whose destination is "web" too. Both ask the mesh registry through
// Mesh.Discovery, which follows a Mesh sidecar's Consul agent API with blocking queries.
//
//   dotnet run --project examples/Mesh.Discovery.Example -- --port 8080 --agent http://127.0.0.1:8500 [--service web]
//   curl http://127.0.0.1:8080/call       # HttpClient: http://web/ through discovery, retried on another instance
//   curl http://127.0.0.1:8080/proxy/x    # YARP: cluster "web" whose destination is http://web
//   curl http://127.0.0.1:8080/instances  # what the registry answered, and when
using Mesh.Discovery;
using Yarp.ReverseProxy.Configuration;

var port = Arg("--port") ?? "8080";
var agent = new Uri(Arg("--agent") ?? "http://127.0.0.1:8500");
var service = Arg("--service") ?? "web";

var builder = WebApplication.CreateBuilder();
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
builder.Services.AddServiceDiscovery().AddMeshServiceEndpointProvider(o => o.Agent = agent);

// The resilience handler is outside service discovery, so a retry resolves again: a failed instance is
// tried on another (round robin), as a sidecar would.
var discovered = builder.Services.AddHttpClient("discovered", c => c.BaseAddress = new Uri($"http://{service}"));
discovered.AddStandardResilienceHandler(o =>
{
    o.Retry.Delay = TimeSpan.FromMilliseconds(50);
    o.Retry.MaxRetryAttempts = 3;
});
discovered.AddServiceDiscovery();

// YARP through the same provider: the destination's address is the service name.
builder.Services.AddReverseProxy()
    .LoadFromMemory(
        [new RouteConfig { RouteId = "proxy", ClusterId = service, Match = new RouteMatch { Path = "/proxy/{**rest}" }, Transforms = [new Dictionary<string, string> { ["PathRemovePrefix"] = "/proxy" }] }],
        [new ClusterConfig { ClusterId = service, Destinations = new Dictionary<string, DestinationConfig> { ["discovered"] = new() { Address = $"http://{service}" } } }])
    .AddServiceDiscoveryDestinationResolver();

var app = builder.Build();
app.MapGet("/call", async (IHttpClientFactory clients, CancellationToken cancel) =>
{
    var response = await clients.CreateClient("discovered").GetAsync("/", cancel);
    return Results.Text(await response.Content.ReadAsStringAsync(cancel), statusCode: (int)response.StatusCode);
});
app.MapGet("/instances", (MeshServiceCatalog catalog) =>
{
    var (instances, at, error) = catalog.Watch(service, "default").Current;
    return Results.Json(new { instances = instances?.Select(i => $"{i.Id} {i.Address}:{i.Port}"), at, error });
});
app.MapReverseProxy();
app.Run();

string? Arg(string flag)
{
    var i = Array.IndexOf(args, flag);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
