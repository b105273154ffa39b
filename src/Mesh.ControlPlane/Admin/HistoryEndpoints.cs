using System.Globalization;
using System.Text.Json;
using Mesh.ControlPlane.Config;
using Mesh.ControlPlane.Limits;
using Mesh.ControlPlane.Config.History;
using Mesh.ControlPlane.Security;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Admin;

/// <summary>
/// Config history on the admin API: the kept versions (newest first, with when, how, who and what
/// changed), one version's resources, the diff of two versions per resource, and a rollback, which makes
/// a new version serving an old one's resources, validated like any change.
/// </summary>
internal static class HistoryEndpoints
{
    public static void MapConfigHistory(this RouteGroupBuilder admin)
    {
        admin.MapGet("/v1/config/history", (ConfigStore store) => Results.Json(new
        {
            current = store.Version,
            capacity = store.History.Capacity,
            versions = store.History.List(),
        }, MeshJson.Indented));

        admin.MapGet("/v1/config/history/{version}", (string version, ConfigStore store) =>
        {
            if (!TryVersion(version, out var number))
            {
                return BadRequest($"version: expected a config version number, got '{version}'");
            }
            if (store.History.Get(number) is not { } record)
            {
                return NotKept(store, number);
            }
            var info = record.Info;
            return Results.Json(new { info.Version, info.At, info.How, info.Who, info.Detail, info.RolledBackTo, info.Changes, resources = record.Resources }, MeshJson.Indented);
        });

        // ?from=A&to=B (to: the running version when left out); every bad parameter is named at once.
        admin.MapGet("/v1/config/diff", (HttpRequest request, ConfigStore store) =>
        {
            var errors = new List<string>();
            var from = Parameter(request, "from", null, errors);
            var to = Parameter(request, "to", store.Version, errors);
            if (errors.Count > 0)
            {
                return BadRequest([.. errors]);
            }
            var (old, now) = (store.History.Get(from), store.History.Get(to));
            if (old is null || now is null)
            {
                return NotKept(store, old is null ? from : to);
            }
            return Results.Json(new { from, to, resources = ConfigDiff.Between(old.Resources, now.Resources, from, to) }, MeshJson.Indented);
        });

        admin.MapPost("/v1/config/rollback", async (HttpContext context, ConfigStore store) =>
        {
            if (await ReadTargetAsync(context.Request) is not { } target)
            {
                return BadRequest("expected a JSON body {\"version\": N} naming a kept config version (GET /v1/config/history lists them)");
            }
            var outcome = store.Rollback(target, Caller(context));
            if (!outcome.Kept)
            {
                return NotKept(store, target);
            }
            var result = outcome.Result;
            return Results.Json(new
            {
                valid = result.Succeeded,
                version = outcome.Version,
                rolledBackTo = target,
                changed = outcome.Changed,
                errors = result.Errors.Select(p => p.ToString()),
                warnings = result.Problems.Where(p => p.Severity == Core.Config.Loading.ConfigSeverity.Warning).Select(p => p.ToString()),
                problems = result.Problems,
            }, MeshJson.Indented, statusCode: result.Succeeded ? StatusCodes.Status200OK : StatusCodes.Status422UnprocessableEntity);
        }).WithBodyLimit(4096);
    }

    /// <summary>Who the history names for an admin call: the admin token, and whether it came through the dashboard's sign-in.</summary>
    public static string Caller(HttpContext context) =>
        context.Request.Headers.Authorization.Count == 0 && context.Request.Cookies.ContainsKey(MeshAuthentication.AdminCookie)
            ? ConfigStore.AdminCaller + " (dashboard)"
            : ConfigStore.AdminCaller;

    private static async Task<long?> ReadTargetAsync(HttpRequest request)
    {
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            return body.RootElement.ValueKind == JsonValueKind.Object && body.RootElement.TryGetProperty("version", out var v)
                && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var number) && number > 0 ? number : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static long Parameter(HttpRequest request, string name, long? fallback, List<string> errors)
    {
        var text = request.Query[name].ToString();
        if (text.Length == 0 && fallback is { } value)
        {
            return value;
        }
        if (TryVersion(text, out var number))
        {
            return number;
        }
        errors.Add(text.Length == 0 ? $"{name}: required, a config version number" : $"{name}: expected a config version number, got '{text}'");
        return 0;
    }

    private static bool TryVersion(string text, out long version) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out version) && version > 0;

    private static IResult BadRequest(params string[] errors) =>
        Results.Json(new { errors }, MeshJson.Indented, statusCode: StatusCodes.Status400BadRequest);

    private static IResult NotKept(ConfigStore store, long version)
    {
        var kept = store.History.List();
        var range = kept.Count == 0 ? "none is kept" : $"kept: {kept[^1].Version}-{kept[0].Version}, the newest {store.History.Capacity} at most (--config-history)";
        return Results.Json(new { errors = new[] { $"config version {version} is not in the history ({range})" } }, MeshJson.Indented, statusCode: StatusCodes.Status404NotFound);
    }
}
