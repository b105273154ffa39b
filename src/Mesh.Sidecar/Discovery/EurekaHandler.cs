using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mesh.Sidecar.Discovery;

/// <summary>
/// The Eureka port (127.0.0.1 only): Eureka's REST API under <c>/eureka/apps</c> (and <c>/eureka/v2/apps</c>,
/// eureka-js-client's default path), in JSON. Errors are plain text saying what was wrong; what Mesh does
/// not implement answers 501, never a pretended success.
/// </summary>
internal sealed class EurekaHandler(EurekaAgent eureka, ILogger<EurekaHandler> logger)
{
    /// <summary>Registrations are a few hundred bytes; this is ample and bounds what a client can make the sidecar hold.</summary>
    public const int MaxBodySize = 64 * 1024;

    /// <summary>How long a registration waits to learn whether the control plane took it; after that it is
    /// accepted (the agent keeps trying while the control plane is away).</summary>
    public static readonly TimeSpan RegistrationWait = TimeSpan.FromSeconds(2);

    private const string Supported = "supported: POST/GET /eureka/apps/{APP}, GET /eureka/apps, GET /eureka/apps/delta, PUT/GET/DELETE /eureka/apps/{APP}/{ID}, PUT/DELETE /eureka/apps/{APP}/{ID}/status, PUT /eureka/apps/{APP}/{ID}/metadata, GET /eureka/vips/{VIP}, GET /eureka/instances/{ID}";

    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        var method = context.Request.Method;
        if (Strip(path, "/eureka/apps", "/eureka/v2/apps") is { } apps)
        {
            return (method, apps) switch
            {
                ("GET", []) => All(context),
                ("GET", ["delta"]) => DeltaAsync(context),
                ("POST", [var app]) => RegisterAsync(context, app),
                ("GET", [var app]) => App(context, app),
                ("PUT", [var app, var id]) => Renew(context, app, id),
                ("DELETE", [var app, var id]) => Cancel(context, app, id),
                ("GET", [var app, var id]) => Instance(context, app, id),
                ("PUT", [var app, var id, "status"]) => SetStatus(context, app, id),
                ("DELETE", [var app, var id, "status"]) => ClearStatus(context, app, id),
                ("PUT", [var app, var id, "metadata"]) => Metadata(context, app, id),
                (_, [] or ["delta"] or [_] or [_, _] or [_, _, "status" or "metadata"]) =>
                    Text(context, StatusCodes.Status405MethodNotAllowed, $"{method} {path} is not part of Eureka's API; {Supported}"),
                _ => NotImplemented(context),
            };
        }
        if (Strip(path, "/eureka/vips", "/eureka/v2/vips") is [var vip] && method == "GET")
        {
            return Vip(context, vip);
        }
        if (Strip(path, "/eureka/instances", "/eureka/v2/instances") is [var instanceId] && method == "GET")
        {
            return Instance(context, null, instanceId);
        }
        return path.StartsWith("/eureka/", StringComparison.Ordinal) ? NotImplemented(context)
            : Text(context, StatusCodes.Status404NotFound, $"this is the sidecar's Eureka API: point Eureka clients at http://{context.Request.Host}/eureka/apps/; {Supported}");
    }

    private static string[]? Strip(string path, params string[] prefixes)
    {
        foreach (var prefix in prefixes)
        {
            if (path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal))
            {
                return path[prefix.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
            }
        }
        return null;
    }

    private Task All(HttpContext context)
    {
        if (Unanswerable(context) is { } refusal)
        {
            return refusal;
        }
        var (view, version) = eureka.View();
        return Json(context, EurekaJson.Applications(view.Select(i => (i, EurekaJson.Added)), version, EurekaJson.HashCode(view)));
    }

    private Task DeltaAsync(HttpContext context)
    {
        if (Unanswerable(context) is { } refusal)
        {
            return refusal;
        }
        var (changes, version, hashCode) = eureka.Delta();
        return Json(context, EurekaJson.Applications(changes, version, hashCode));
    }

    private Task App(HttpContext context, string app)
    {
        if (Unanswerable(context) is { } refusal)
        {
            return refusal;
        }
        var instances = eureka.View().Instances.Where(i => string.Equals(i.App, app, StringComparison.OrdinalIgnoreCase)).ToList();
        return instances.Count == 0
            ? Text(context, StatusCodes.Status404NotFound, $"no instance of app {app.ToUpperInvariant()} (mesh service {app.ToLowerInvariant()}) is registered")
            : Json(context, new JsonObject { ["application"] = EurekaJson.Application(app.ToUpperInvariant(), instances.Select(i => (i, EurekaJson.Added))) });
    }

    /// <summary><c>/apps/{APP}/{ID}</c>, or with no app <c>/instances/{ID}</c>.</summary>
    private Task Instance(HttpContext context, string? app, string id)
    {
        if (Unanswerable(context) is { } refusal)
        {
            return refusal;
        }
        var instance = eureka.View().Instances.FirstOrDefault(i => (app is null || string.Equals(i.App, app, StringComparison.OrdinalIgnoreCase)) && i.InstanceId == id);
        if (instance is null && eureka.Problem(eureka.MeshId(id)) is { } problem)
        {
            return Text(context, StatusCodes.Status403Forbidden, $"{app}/{id} is not in the mesh: the control plane refused it: {problem}");
        }
        return instance is null
            ? Text(context, StatusCodes.Status404NotFound, $"instance {id}{(app is null ? "" : $" of app {app.ToUpperInvariant()}")} is not registered")
            : Json(context, new JsonObject { ["instance"] = EurekaJson.Instance(instance) });
    }

    private Task Vip(HttpContext context, string vip)
    {
        if (Unanswerable(context) is { } refusal)
        {
            return refusal;
        }
        var (view, version) = eureka.View();
        var matching = view.Where(i => i.VipAddress?.Split(',').Contains(vip, StringComparer.OrdinalIgnoreCase) == true).ToList();
        return matching.Count == 0
            ? Text(context, StatusCodes.Status404NotFound, $"no instance has vip address {vip}")
            : Json(context, EurekaJson.Applications(matching.Select(i => (i, EurekaJson.Added)), version, EurekaJson.HashCode(matching)));
    }

    private async Task RegisterAsync(HttpContext context, string app)
    {
        if (context.Request.ContentType?.Contains("xml", StringComparison.OrdinalIgnoreCase) == true)
        {
            await Text(context, StatusCodes.Status415UnsupportedMediaType,
                "Mesh's Eureka API takes JSON registrations only (Content-Type: application/json); configure the client's JSON codec").ConfigureAwait(false);
            return;
        }
        if (context.Request.ContentLength > MaxBodySize)
        {
            await Text(context, StatusCodes.Status413PayloadTooLarge, $"a registration may be at most {MaxBodySize} bytes").ConfigureAwait(false);
            return;
        }
        JsonDocument body;
        try
        {
            // Read no more than the limit, also without a Content-Length (chunked): the sidecar's ports have no body cap.
            var buffer = new byte[MaxBodySize + 1];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = await context.Request.Body.ReadAsync(buffer.AsMemory(length), context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                length += read;
            }
            if (length > MaxBodySize)
            {
                await Text(context, StatusCodes.Status413PayloadTooLarge, $"a registration may be at most {MaxBodySize} bytes").ConfigureAwait(false);
                return;
            }
            body = JsonDocument.Parse(buffer.AsMemory(0, length));
        }
        catch (JsonException e)
        {
            await Text(context, StatusCodes.Status400BadRequest, $"the registration is not JSON: {e.Message}").ConfigureAwait(false);
            return;
        }
        EurekaInstance? instance;
        IReadOnlyList<string> errors;
        using (body)
        {
            (instance, errors) = EurekaJson.ParseRegistration(body.RootElement, app, eureka.Now);
        }
        if (instance is null)
        {
            await Text(context, StatusCodes.Status400BadRequest, $"registration of {app} refused:\n" + string.Join('\n', errors)).ConfigureAwait(false);
            return;
        }
        if (eureka.Conflict(instance.InstanceId) is { } conflict)
        {
            await Text(context, StatusCodes.Status409Conflict, conflict).ConfigureAwait(false);
            return;
        }
        eureka.Register(instance);
        // Wait to learn whether the control plane took it, so a refusal (e.g. outside the join token's
        // scope) reaches the client with its reason instead of a 204 for an instance nobody can find.
        var meshId = eureka.MeshId(instance.InstanceId);
        var deadline = eureka.Now + RegistrationWait;
        while (eureka.Now < deadline && !eureka.InSnapshot(meshId))
        {
            if (eureka.Problem(meshId) is { } problem)
            {
                eureka.Cancel(instance.App, instance.InstanceId);
                Log.EurekaRefused(logger, instance.App, instance.InstanceId, problem);
                await Text(context, StatusCodes.Status403Forbidden, $"the control plane refused {instance.App}/{instance.InstanceId}: {problem}").ConfigureAwait(false);
                return;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(20), context.RequestAborted).ConfigureAwait(false);
        }
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private Task Renew(HttpContext context, string app, string id)
    {
        var status = context.Request.Query["status"].ToString();
        string? reported = null;
        if (status.Length > 0 && (reported = EurekaStatus.Parse(status)) is null)
        {
            return BadStatus(context, "status", status);
        }
        // A refused registration is not renewed: the 404 makes the client register again and hear why.
        if (eureka.Problem(eureka.MeshId(id)) is null && eureka.Renew(app, id, reported))
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            return Task.CompletedTask;
        }
        return Unknown(context, app, id);
    }

    private Task Cancel(HttpContext context, string app, string id) =>
        eureka.Cancel(app, id) ? Ok(context) : Unknown(context, app, id);

    private Task SetStatus(HttpContext context, string app, string id)
    {
        var value = context.Request.Query["value"].ToString();
        if (EurekaStatus.Parse(value) is not { } status)
        {
            return BadStatus(context, "value", value);
        }
        return eureka.Override(app, id, status) ? Ok(context) : Unknown(context, app, id);
    }

    private Task ClearStatus(HttpContext context, string app, string id)
    {
        var value = context.Request.Query["value"].ToString();
        string? reported = null;
        if (value.Length > 0 && (reported = EurekaStatus.Parse(value)) is null)
        {
            return BadStatus(context, "value", value);
        }
        return eureka.Override(app, id, null, reported) ? Ok(context) : Unknown(context, app, id);
    }

    private Task Metadata(HttpContext context, string app, string id)
    {
        var metadata = context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal);
        if (metadata.Count == 0)
        {
            return Text(context, StatusCodes.Status400BadRequest, "PUT .../metadata needs the metadata as query parameters (?key=value)");
        }
        return eureka.MergeMetadata(app, id, metadata) ? Ok(context) : Unknown(context, app, id);
    }

    /// <summary>Reads answer JSON (also to <c>*/*</c> and no Accept); an XML-only request gets 406, not JSON it did not ask for.</summary>
    private static Task? Unanswerable(HttpContext context)
    {
        var accept = context.Request.Headers.Accept.ToString();
        if (accept.Contains("xml", StringComparison.OrdinalIgnoreCase) && !accept.Contains("json", StringComparison.OrdinalIgnoreCase) && !accept.Contains("*/*", StringComparison.Ordinal))
        {
            return Text(context, StatusCodes.Status406NotAcceptable,
                "Mesh's Eureka API answers in JSON only; send Accept: application/json (configure the Eureka client's JSON codec)");
        }
        return context.Request.Query.ContainsKey("regions")
            ? Text(context, StatusCodes.Status501NotImplemented, "remote regions (?regions=) are not implemented by Mesh's Eureka API; the mesh registry has one region view per control plane")
            : null;
    }

    private static Task NotImplemented(HttpContext context) =>
        Text(context, StatusCodes.Status501NotImplemented, $"{context.Request.Method} {context.Request.Path} is not implemented by Mesh's Eureka API; {Supported}");

    private static Task Unknown(HttpContext context, string app, string id) =>
        Text(context, StatusCodes.Status404NotFound, $"instance {id} of app {app.ToUpperInvariant()} is not registered with this sidecar; register it (POST /eureka/apps/{app.ToUpperInvariant()})");

    private static Task BadStatus(HttpContext context, string parameter, string value) =>
        Text(context, StatusCodes.Status400BadRequest, $"{parameter}: '{value}' is not a Eureka status (expected one of {string.Join(", ", EurekaStatus.All)})");

    private static Task Ok(HttpContext context) => DiscoveryAnswers.Ok(context);

    private static Task Text(HttpContext context, int status, string body) => DiscoveryAnswers.Text(context, status, body + "\n");

    private static Task Json(HttpContext context, JsonObject value)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(value.ToJsonString());
    }
}
