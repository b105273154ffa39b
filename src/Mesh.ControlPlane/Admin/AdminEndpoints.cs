using Mesh.ControlPlane.Limits;
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
        admin.MapGet("/v1/proxy-status", async (IProxyStatusView view, CancellationToken cancel) =>
            Results.Json(await view.ListAsync(cancel), MeshJson.Indented));

        admin.MapGet("/v1/instances", (ServiceRegistry registry) => Results.Json(registry.InstancesWithLiveLeases(), MeshJson.Indented));

        admin.MapGet("/v1/config", (SnapshotPublisher publisher) =>
            Results.Json(new { version = publisher.ConfigVersion, config = publisher.Config }, MeshJson.Indented));

        admin.MapPost("/v1/config/reload", (HttpContext context, ConfigStore store) =>
        {
            var result = store.Reload(change: new Config.History.ConfigChange(Config.History.ConfigChange.Reload, HistoryEndpoints.Caller(context)));
            return result.Succeeded
                ? Results.Json(new { accepted = true, version = store.Version, warnings = result.Problems.Select(p => p.ToString()) }, MeshJson.Indented)
                : Results.Json(new { accepted = false, version = store.Version, errors = result.Problems.Select(p => p.ToString()) }, MeshJson.Indented, statusCode: StatusCodes.Status422UnprocessableEntity);
        });

        // Checks YAML before it is applied: the same loader and validator as a reload, run against the
        // running config (the posted file replaces the one of the same name) and the live registry.
        admin.MapPost("/v1/validate", async (HttpRequest request, ConfigStore store) =>
        {
            var (name, text) = await ReadFileAsync(request);
            var result = store.Validate(name, text);
            return Report(result, result.Succeeded, []);
        }).WithBodyLimit(RequestLimits.MaxConfigBodySize);

        // kubectl-style apply and delete of resources, kept in the data dir on top of the config dir.
        admin.MapPost("/v1/apply", async (HttpRequest request, ConfigStore store) =>
        {
            var (name, text) = await ReadFileAsync(request);
            return Stored(() =>
            {
                var (result, applied) = store.Apply(name, text, HistoryEndpoints.Caller(request.HttpContext));
                return Report(result, result.Succeeded && applied.Count > 0, applied, store.Version);
            });
        }).WithBodyLimit(RequestLimits.MaxConfigBodySize);
        admin.MapPost("/v1/delete", async (HttpRequest request, ConfigStore store) =>
        {
            var (name, text) = await ReadFileAsync(request);
            return Stored(() =>
            {
                var (result, deleted) = store.Delete(name, text, HistoryEndpoints.Caller(request.HttpContext));
                return Report(result, result.Succeeded && deleted.Count > 0, deleted, store.Version);
            });
        }).WithBodyLimit(RequestLimits.MaxConfigBodySize);

    }

    /// <summary>A config write the shared store could not take: 503 naming etcd (nothing was applied), or 409 when other replicas kept changing the config.</summary>
    private static IResult Stored(Func<IResult> write)
    {
        try
        {
            return write();
        }
        catch (Registry.Etcd.EtcdUnavailableException e)
        {
            return Results.Problem($"not applied: {e.Message}", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        catch (ConfigConflictException e)
        {
            return Results.Problem($"not applied: {e.Message} several times running; try again", statusCode: StatusCodes.Status409Conflict);
        }
    }

    private static async Task<(string Name, string Text)> ReadFileAsync(HttpRequest request)
    {
        var name = request.Query["file"].ToString() is { Length: > 0 } file ? Path.GetFileName(file) : "request.yaml";
        using var reader = new StreamReader(request.Body);
        return (name, await reader.ReadToEndAsync(request.HttpContext.RequestAborted));
    }

    /// <summary>200 with what was done, or 422 with every problem; warnings either way.</summary>
    private static IResult Report(ConfigLoadResult result, bool ok, IReadOnlyList<ConfigDocument> resources, long? version = null)
    {
        var body = new
        {
            valid = ok,
            version,
            resources = resources.Select(r => r.ToString()),
            errors = result.Errors.Select(p => p.ToString()),
            warnings = result.Problems.Where(p => p.Severity == ConfigSeverity.Warning).Select(p => p.ToString()),
            problems = result.Problems,
        };
        return Results.Json(body, MeshJson.Indented, statusCode: ok ? StatusCodes.Status200OK : StatusCodes.Status422UnprocessableEntity);
    }
}
