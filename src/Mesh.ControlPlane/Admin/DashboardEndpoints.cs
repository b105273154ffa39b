using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Telemetry;
using Mesh.Core.Config.Loading;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Admin;

/// <summary>
/// The dashboard on the admin port: <c>/ui</c>, one page whose script reads the admin API (services and
/// instances, proxy status, config, join tokens, the CA) and follows <c>/v1/events</c> (server-sent events
/// on every new snapshot) so it changes without reloading. Signing in puts the admin token in an HttpOnly,
/// SameSite=Strict cookie; it never appears in a URL or a log. Every asset ships in the control plane.
/// </summary>
internal static partial class DashboardEndpoints
{
    private static readonly Lazy<(byte[] Html, byte[] Script, byte[] Traffic, byte[] Style)> Assets = new(() => (Read("index.html"), Read("app.js"), Read("traffic.js"), Read("app.css")));
    private static readonly Lazy<byte[]> HistoryScript = new(() => Read("history.js"));
    private static readonly Lazy<byte[]> PeeringsScript = new(() => Read("peerings.js"));

    /// <summary>Pages anyone on the admin port may load: the sign-in form and the static assets (no data in them).</summary>
    public static void MapDashboardPages(this RouteGroupBuilder open)
    {
        open.MapGet("/ui", (HttpContext context) => Page(context, Assets.Value.Html, "text/html; charset=utf-8"));
        open.MapGet("/ui/app.js", (HttpContext context) => Page(context, Assets.Value.Script, "text/javascript; charset=utf-8"));
        open.MapGet("/ui/traffic.js", (HttpContext context) => Page(context, Assets.Value.Traffic, "text/javascript; charset=utf-8"));
        open.MapGet("/ui/app.css", (HttpContext context) => Page(context, Assets.Value.Style, "text/css; charset=utf-8"));
        open.MapGet("/ui/history.js", (HttpContext context) => Page(context, HistoryScript.Value, "text/javascript; charset=utf-8"));
        open.MapGet("/ui/peerings.js", (HttpContext context) => Page(context, PeeringsScript.Value, "text/javascript; charset=utf-8"));
        open.MapPost("/ui/sign-in", async (HttpContext context, AdminToken token, ILogger<AdminToken> logger) =>
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            var presented = form["token"].ToString().Trim();
            if (!token.Matches(presented))
            {
                Log.SignInRefused(logger, context.Connection.RemoteIpAddress?.ToString() ?? "?");
                return Results.Redirect("/ui?signin=failed", permanent: false);
            }
            context.Response.Cookies.Append(MeshAuthentication.AdminCookie, presented, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Path = "/",
                IsEssential = true,
            });
            return Results.Redirect("/ui", permanent: false);
        }).DisableAntiforgery();
        open.MapPost("/ui/sign-out", (HttpContext context) =>
        {
            context.Response.Cookies.Delete(MeshAuthentication.AdminCookie, new CookieOptions { Path = "/", SameSite = SameSiteMode.Strict, HttpOnly = true });
            return Results.Redirect("/ui", permanent: false);
        }).DisableAntiforgery();
    }

    /// <summary>What the dashboard reads that the admin API did not have yet: the CA, and the event stream.</summary>
    public static void MapDashboardData(this RouteGroupBuilder admin)
    {
        admin.MapGet("/v1/ca", (MeshCertificateAuthority ca) => Results.Json(new
        {
            trustDomain = ca.TrustDomain,
            rootSubject = ca.Root.Subject,
            rootSha256 = ca.Root.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256),
            rootNotAfter = ca.Root.NotAfter.ToUniversalTime(),
            path = ca.RootPath,
        }, MeshJson.Indented));

        // Golden signals and the service graph, from what sidecars report with their heartbeats.
        admin.MapGet("/v1/traffic", (HttpContext context, TrafficSignals signals) =>
        {
            var window = TimeSpan.FromMinutes(1);
            if (context.Request.Query["window"].ToString() is { Length: > 0 } text
                && (!Durations.TryParse(text, out window) || window < TimeSpan.FromSeconds(1) || window > TrafficSignals.MaxWindow))
            {
                return Results.Problem($"window: expected a duration from 1s to {TrafficSignals.MaxWindow.TotalMinutes:0}m like 30s, got '{text}'", statusCode: StatusCodes.Status400BadRequest);
            }
            return Results.Json(signals.View(window), MeshJson.Indented);
        });

        // One event per new snapshot (registry or config change), as long polls do for sidecars.
        admin.MapGet("/v1/events", async (HttpContext context, SnapshotPublisher publisher) =>
        {
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-store";
            var cancel = context.RequestAborted;
            var version = -1L;
            var lastConfig = -1L;
            try
            {
                while (!cancel.IsCancellationRequested)
                {
                    var next = version < 0 ? publisher.Current : await publisher.WaitAsync(version, TimeSpan.FromSeconds(25), cancel).ConfigureAwait(false);
                    var configVersion = publisher.ConfigVersion;
                    var data = next is null
                        ? ": keep-alive\n\n" // no change within 25 s: a comment keeps proxies from closing the stream
                        : $"event: snapshot\ndata: {{\"version\":{next.Version},\"configVersion\":{configVersion}}}\n\n";
                    // A new config version is also an event of its own (the history page follows these).
                    if (next is not null && lastConfig >= 0 && configVersion != lastConfig)
                    {
                        data += $"event: config\ndata: {{\"version\":{configVersion}}}\n\n";
                    }
                    lastConfig = next is null ? lastConfig : configVersion;
                    version = next?.Version ?? version;
                    await context.Response.WriteAsync(data, cancel).ConfigureAwait(false);
                    await context.Response.Body.FlushAsync(cancel).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // the page went away
            }
        });
    }

    private static IResult Page(HttpContext context, byte[] content, string type)
    {
        // The page and its script come from here only: no CDN, no inline script, no framing.
        context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers.CacheControl = "no-store";
        return Results.Bytes(content, type);
    }

    private static byte[] Read(string name)
    {
        using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream($"Mesh.ControlPlane.Admin.Ui.{name}")
            ?? throw new InvalidOperationException($"dashboard asset {name} is not embedded");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static partial class Log
    {
        [LoggerMessage(90, LogLevel.Warning, "Dashboard sign-in refused from {Remote}: wrong admin token")]
        public static partial void SignInRefused(ILogger logger, string remote);
    }
}
