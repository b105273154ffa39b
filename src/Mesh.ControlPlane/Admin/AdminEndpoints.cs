using Mesh.ControlPlane.Config;
using Mesh.ControlPlane.Distribution;
using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Admin;

/// <summary>The operator-facing API on the admin port.</summary>
internal static class AdminEndpoints
{
    public static void MapAdmin(this RouteGroupBuilder admin)
    {
        admin.MapGet("/v1/proxy-status", (ProxyStatusTracker tracker, SnapshotPublisher publisher) =>
            Results.Json(tracker.List(publisher.Version), MeshJson.Indented));

        admin.MapGet("/v1/instances", (ServiceRegistry registry) => Results.Json(registry.Instances, MeshJson.Indented));

        admin.MapGet("/v1/config", (SnapshotPublisher publisher) =>
            Results.Json(new { version = publisher.ConfigVersion, config = publisher.Config }, MeshJson.Indented));

        admin.MapPost("/v1/config/reload", (ConfigStore store) =>
        {
            var result = store.Reload();
            return result.Succeeded
                ? Results.Json(new { accepted = true, version = store.Version, warnings = result.Problems.Select(p => p.ToString()) }, MeshJson.Indented)
                : Results.Json(new { accepted = false, version = store.Version, errors = result.Problems.Select(p => p.ToString()) }, MeshJson.Indented, statusCode: StatusCodes.Status422UnprocessableEntity);
        });

        // Checks YAML before it is applied: the same loader and validator as a reload, run against the
        // running directory (the posted file replaces the one of the same name) and the live registry.
        admin.MapPost("/v1/validate", async (HttpRequest request, ConfigStore store) =>
        {
            var name = request.Query["file"].ToString() is { Length: > 0 } file ? file : "request.yaml";
            using var reader = new StreamReader(request.Body);
            var result = store.Validate(name, await reader.ReadToEndAsync(request.HttpContext.RequestAborted));
            var body = new
            {
                valid = result.Succeeded,
                errors = result.Errors.Select(p => p.ToString()),
                warnings = result.Problems.Where(p => p.Severity == ConfigSeverity.Warning).Select(p => p.ToString()),
                problems = result.Problems,
            };
            return Results.Json(body, MeshJson.Indented, statusCode: result.Succeeded ? StatusCodes.Status200OK : StatusCodes.Status422UnprocessableEntity);
        });

        admin.MapGet("/ready", () => Results.Text("ready\n"));
        admin.MapGet("/live", () => Results.Text("live\n"));
    }
}
