using Mesh.ControlPlane.Limits;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Security;
using Microsoft.AspNetCore.Authentication;

namespace Mesh.ControlPlane.Security;

/// <summary>A CSR in PEM, as a sidecar sends it.</summary>
internal sealed record CertificateSigningRequest(string Csr);

/// <summary>A workload certificate and the roots to trust, as the CA answers.</summary>
internal sealed record IssuedCertificate(string Certificate, IReadOnlyList<string> CaCertificates, string TrustDomain, DateTimeOffset NotAfter);

/// <summary>The CA's sidecar-facing endpoints: the root (public), the trust bundle, and certificate signing.</summary>
internal static class CertificateEndpoints
{
    public static void MapCertificateAuthority(this RouteGroupBuilder api)
    {
        // The root is public: sidecars without --ca-cert fetch it once and pin it.
        api.MapGet("/v1/ca/root", (MeshCertificateAuthority ca) => Results.Text(ca.RootPem, "application/x-pem-file"));
        // Federated: the roots of peered regions (SPIFFE trust bundle federation), so sidecars accept their
        // identities, which keep their own trust domain.
        api.MapGet("/v1/ca/bundle", (MeshCertificateAuthority ca, Peering.PeeringStore peerings) => Results.Json(new
        {
            trustDomain = ca.TrustDomain,
            roots = new[] { ca.RootPem },
            federated = peerings.List().Where(p => p.IsActive && p.TrustDomain is not null && p.RootPem is not null)
                .Select(p => new { trustDomain = p.TrustDomain, roots = new[] { p.RootPem }, peer = p.Name }),
        }));

        // The first certificate is bought with a join token; later ones with the current certificate.
        api.MapPost("/v1/certificates", async (HttpContext context, CertificateSigningRequest body, MeshCertificateAuthority ca,
            JoinTokenStore tokens, ControlPlaneOptions options, ControlPlaneRateLimits limits, LimitRefusals refusals, TimeProvider time, ILogger<MeshCertificateAuthority> logger) =>
        {
            CertificateRequest csr;
            try
            {
                csr = CertificateRequest.LoadSigningRequestPem(body.Csr, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                return MeshAuthentication.Refuse(context, StatusCodes.Status400BadRequest, $"not a valid PEM certificate signing request (or its signature does not verify): {e.Message}");
            }
            if (WorkloadCertificates.RequestedId(csr) is not { } requested)
            {
                return MeshAuthentication.Refuse(context, StatusCodes.Status400BadRequest, "the CSR must ask for exactly one SPIFFE id (spiffe://<trust-domain>/ns/<namespace>/sa/<service>) as a URI SAN");
            }
            if (requested.TrustDomain != ca.TrustDomain)
            {
                return MeshAuthentication.Refuse(context, StatusCodes.Status403Forbidden, $"the CSR asks for {requested}, outside this mesh's trust domain '{ca.TrustDomain}'");
            }

            string how;
            string limitKey;
            string? agentScope;
            var renewal = await context.AuthenticateAsync(MeshAuthentication.WorkloadScheme).ConfigureAwait(false);
            if (renewal.Succeeded)
            {
                var current = renewal.Principal.Workload(ca.TrustDomain)!;
                if (current != requested)
                {
                    return MeshAuthentication.Refuse(context, StatusCodes.Status403Forbidden, $"{current} may renew only its own identity, not request {requested}");
                }
                how = "renewed with the current certificate";
                agentScope = WorkloadCertificates.AgentScope(context.Connection.ClientCertificate);
                limitKey = current.ToString();
            }
            else
            {
                var header = context.Request.Headers.Authorization.ToString();
                if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                {
                    return MeshAuthentication.Refuse(context, StatusCodes.Status401Unauthorized,
                        renewal.Failure?.Message ?? "a join token ('Authorization: Bearer mesh-join...') or a valid workload certificate is required");
                }
                var check = tokens.Check(header["Bearer ".Length..].Trim());
                if (check.Token is not { } token)
                {
                    return MeshAuthentication.Refuse(context, StatusCodes.Status401Unauthorized, check.Refusal!);
                }
                if ((token.Namespace is { } ns && ns != requested.Namespace) || (token.Service is { } service && service != requested.Service))
                {
                    return MeshAuthentication.Refuse(context, StatusCodes.Status403Forbidden, $"join token {token.Id} is scoped to {token.Scope}; it may not request {requested}");
                }
                how = $"join token {token.Id}";
                // A namespace token's workloads may register other services of that namespace through their
                // discovery agent (Consul, Eureka); an unscoped token's, any; a service token's, only their own.
                agentScope = token.Service is not null ? null : token.Namespace ?? WorkloadCertificates.AnyNamespace;
                limitKey = "join-token:" + token.Id;
            }

            // Counted only once the token or certificate has checked out, so nobody else can spend its budget.
            using var lease = limits.AcquireCsr(limitKey);
            if (!lease.IsAcquired)
            {
                return refusals.TooManyRequests(context, lease);
            }
            using var issued = ca.Issue(csr, requested, time.GetUtcNow(), options.WorkloadCertificateTtl, agentScope);
            Log.CertificateIssued(logger, issued.SerialNumber, requested.ToString(), issued.NotAfter.ToUniversalTime(), how);
            return Results.Json(new IssuedCertificate(issued.ExportCertificatePem(), [ca.RootPem], ca.TrustDomain, issued.NotAfter.ToUniversalTime()));
        }).WithBodyLimit(RequestLimits.MaxCsrBodySize);
    }
}
