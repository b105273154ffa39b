using System.Security.Claims;
using System.Text.Encodings.Web;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// Who is calling the control plane, through ASP.NET Core's authentication: a sidecar by its workload
/// certificate (the TLS client certificate Kestrel received, checked here against the mesh root), an
/// operator by the admin token. Kestrel lets any client certificate through the handshake so that a
/// refusal is an HTTP answer with a reason and a log line rather than a bare TLS alert.
/// </summary>
internal static class MeshAuthentication
{
    public const string WorkloadScheme = "MeshWorkload";
    public const string AdminScheme = "MeshAdminToken";
    public const string WorkloadPolicy = "workload";
    public const string AdminPolicy = "admin";
    private const string NamespaceClaim = "mesh/namespace";
    private const string ServiceClaim = "mesh/service";

    public static IServiceCollection AddMeshAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, WorkloadCertificateHandler>(WorkloadScheme, null)
            .AddScheme<AuthenticationSchemeOptions, AdminTokenHandler>(AdminScheme, null);
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

    private static void LogRefusal(HttpContext context, int status, string reason)
    {
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Mesh.ControlPlane.Security");
        Log.Refused(logger, status, context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress?.ToString() ?? "?", reason);
    }

    private static Task WriteRefusalAsync(HttpContext context, int status, string reason)
    {
        LogRefusal(context, status, reason);
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { title = status == 401 ? "Unauthorized" : "Forbidden", status, detail = reason }, context.RequestAborted);
    }

    private sealed class WorkloadCertificateHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
        MeshCertificateAuthority ca, TimeProvider time)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (Context.Connection.ClientCertificate is not { } certificate)
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }
            // A connection's certificate never changes: the chain is built once per connection (it costs
            // far more than the heartbeat it guards), and only the validity period is checked per request.
            var items = Context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionItemsFeature>()?.Items;
            var now = time.GetUtcNow();
            SpiffeId? id;
            if (items?.TryGetValue(typeof(WorkloadCertificateHandler), out var cached) == true && cached is SpiffeId known && now <= certificate.NotAfter.ToUniversalTime())
            {
                id = known;
            }
            else if (ca.Check(certificate, now, out id) is { } failure)
            {
                return Task.FromResult(AuthenticateResult.Fail(failure));
            }
            else if (items is not null)
            {
                items[typeof(WorkloadCertificateHandler)] = id;
            }
            var identity = new ClaimsIdentity(
                [new Claim(ClaimTypes.NameIdentifier, id!.ToString()), new Claim(NamespaceClaim, id.Namespace), new Claim(ServiceClaim, id.Service)],
                WorkloadScheme);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), WorkloadScheme)));
        }

        protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
        {
            var result = await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false);
            await WriteRefusalAsync(Context, StatusCodes.Status401Unauthorized,
                result.Failure?.Message ?? "a workload certificate issued by the mesh CA is required (TLS client certificate)").ConfigureAwait(false);
        }
    }

    private sealed class AdminTokenHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AdminToken token)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            var header = Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }
            if (!token.Matches(header["Bearer ".Length..]))
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
