using System.Security.Claims;
using System.Text.Encodings.Web;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Certificate;
using Microsoft.Extensions.Options;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// Who is calling the control plane, through ASP.NET Core's authentication: a sidecar by its workload
/// certificate (the TLS client certificate Kestrel received, checked by the certificate authentication
/// package against the mesh root; see <see cref="WorkloadCertificateValidation"/>), an operator by the admin token. Kestrel lets any client certificate through the handshake so that a
/// refusal is an HTTP answer with a reason and a log line rather than a bare TLS alert.
/// </summary>
internal static class MeshAuthentication
{
    public const string WorkloadScheme = "MeshWorkload";
    public const string AdminScheme = "MeshAdminToken";
    public const string WorkloadPolicy = "workload";
    public const string AdminPolicy = "admin";

    /// <summary>The dashboard's cookie holding the admin token after sign-in: HttpOnly, SameSite=Strict, never in a URL.</summary>
    public const string AdminCookie = "mesh-admin";
    private const string NamespaceClaim = "mesh/namespace";
    private const string ServiceClaim = "mesh/service";

    /// <summary>
    /// How many workload certificates' validations are kept. One entry per sidecar (each has its own
    /// certificate), so it is sized above the 10,000-instance benchmark; an entry is a principal of
    /// three claims, a few hundred bytes.
    /// </summary>
    internal const int CertificateCacheSize = 20_000;

    /// <summary>
    /// How long a validation is kept after its certificate was last seen. A live sidecar heartbeats every
    /// few seconds and keeps its entry; the package caps every entry at 30 minutes and at the
    /// certificate's expiry, so a certificate is never accepted past its NotAfter.
    /// </summary>
    internal static readonly TimeSpan CertificateCacheEntryExpiration = TimeSpan.FromMinutes(10);

    public static IServiceCollection AddMeshAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication()
            .AddCertificate(WorkloadScheme, _ => { })
            // Every heartbeat and watch authenticates again: without the cache each would build an X509
            // chain, which costs far more than the heartbeat it guards.
            .AddCertificateCache(cache =>
            {
                cache.CacheSize = CertificateCacheSize;
                cache.CacheEntryExpiration = CertificateCacheEntryExpiration;
            })
            .AddScheme<AuthenticationSchemeOptions, AdminTokenHandler>(AdminScheme, null);
        services.AddOptions<CertificateAuthenticationOptions>(WorkloadScheme)
            .Configure<MeshCertificateAuthority, TimeProvider>((options, ca, time) => WorkloadCertificateValidation.Configure(options, ca, time));
        services.AddAuthorizationBuilder()
            .AddPolicy(WorkloadPolicy, p => p.AddAuthenticationSchemes(WorkloadScheme).RequireAuthenticatedUser())
            .AddPolicy(AdminPolicy, p => p.AddAuthenticationSchemes(AdminScheme).RequireAuthenticatedUser());
        return services;
    }

    /// <summary>The workload identity of an authenticated sidecar.</summary>
    public static SpiffeId? Workload(this ClaimsPrincipal user, string trustDomain) =>
        user.FindFirstValue(NamespaceClaim) is { } ns && user.FindFirstValue(ServiceClaim) is { } service ? new SpiffeId(trustDomain, ns, service) : null;

    /// <summary>Logs a refusal (without secrets) and answers it as an RFC 7807 problem.</summary>
    public static IResult Refuse(HttpContext context, int status, string reason)
    {
        LogRefusal(context, status, reason);
        return Results.Problem(reason, statusCode: status);
    }

    /// <summary>The principal of a workload, with the claims <see cref="Workload"/> reads back.</summary>
    internal static ClaimsPrincipal WorkloadPrincipal(SpiffeId id) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.NameIdentifier, id.ToString()), new Claim(NamespaceClaim, id.Namespace), new Claim(ServiceClaim, id.Service)],
        WorkloadScheme));

    private static void LogRefusal(HttpContext context, int status, string reason)
    {
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Mesh.ControlPlane.Security");
        Log.Refused(logger, status, context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress?.ToString() ?? "?", reason);
    }

    internal static Task WriteRefusalAsync(HttpContext context, int status, string reason)
    {
        LogRefusal(context, status, reason);
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { title = status == 401 ? "Unauthorized" : "Forbidden", status, detail = reason }, context.RequestAborted);
    }

    private sealed class AdminTokenHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AdminToken token)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            var header = Request.Headers.Authorization.ToString();
            string presented;
            if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                presented = header["Bearer ".Length..];
            }
            else if (Request.Cookies.TryGetValue(AdminCookie, out var cookie) && cookie.Length > 0)
            {
                presented = cookie; // the dashboard's sign-in (HttpOnly, SameSite=Strict)
            }
            else
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }
            if (!token.Matches(presented))
            {
                return Task.FromResult(AuthenticateResult.Fail("wrong admin token"));
            }
            var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin")], AdminScheme);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), AdminScheme)));
        }

        protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
        {
            var result = await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false);
            await WriteRefusalAsync(Context, StatusCodes.Status401Unauthorized,
                result.Failure?.Message ?? $"the admin API needs 'Authorization: Bearer <token>' (the token is in {token.Path})").ConfigureAwait(false);
        }
    }
}
