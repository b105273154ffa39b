using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Certificate;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The workload scheme's settings for ASP.NET Core's certificate authentication: the chain must end at
/// the mesh root (its own trust store, never the OS's), the certificate must be valid now and meant for
/// client authentication, and its URI SAN must carry one SPIFFE id of this trust domain. Its events turn
/// that id into the principal and keep the control plane's refusals: an HTTP answer with the reason, and
/// a log line.
/// </summary>
internal static class WorkloadCertificateValidation
{
    private const string Required = "a workload certificate issued by the mesh CA is required (TLS client certificate)";

    public static void Configure(CertificateAuthenticationOptions options, MeshCertificateAuthority ca, TimeProvider time)
    {
        options.AllowedCertificateTypes = CertificateTypes.Chained;
        options.ChainTrustValidationMode = X509ChainTrustMode.CustomRootTrust;
        options.CustomTrustStore = [ca.Root];
        // The mesh has no CRL or OCSP responder: short certificate lifetimes stand in for revocation.
        options.RevocationMode = X509RevocationMode.NoCheck;
        options.ValidateCertificateUse = true; // workload certificates carry the client-auth EKU
        options.ValidateValidityPeriod = true;
        options.TimeProvider = time;
        options.Events = new CertificateAuthenticationEvents
        {
            OnCertificateValidated = context =>
            {
                if (Identify(context.ClientCertificate, ca.TrustDomain, out var id) is { } problem)
                {
                    context.Fail(new RefusedCertificateException(problem));
                }
                else
                {
                    context.Principal = MeshAuthentication.WorkloadPrincipal(id!);
                    context.Success();
                }
                return Task.CompletedTask;
            },
            OnAuthenticationFailed = context =>
            {
                // The package's own failures say only "Client certificate failed validation."; say why,
                // as the control plane always has (the certificate by subject and serial, the chain status).
                if (context.Exception is not RefusedCertificateException)
                {
                    context.Fail(Explain(context.HttpContext.Connection.ClientCertificate, ca, time, context.Exception));
                }
                return Task.CompletedTask;
            },
            OnChallenge = async context =>
            {
                // Without this the package answers a challenge with 403 and no body.
                var result = await context.HttpContext.AuthenticateAsync(context.Scheme.Name).ConfigureAwait(false);
                await MeshAuthentication.WriteRefusalAsync(context.HttpContext, StatusCodes.Status401Unauthorized, result.Failure?.Message ?? Required).ConfigureAwait(false);
                context.HandleResponse();
            },
        };
    }

    /// <summary>
    /// Why a certificate that chains to the mesh root still is not a workload of this mesh (no SPIFFE id,
    /// a malformed one, two of them, or one of another trust domain), or null with its identity.
    /// </summary>
    public static string? Identify(X509Certificate2 certificate, string trustDomain, out SpiffeId? id)
    {
        id = null;
        var spiffe = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(SpiffeId.UriNames)
            .Where(uri => uri.StartsWith(SpiffeId.Scheme, StringComparison.OrdinalIgnoreCase))
            .ToList();
        switch (spiffe)
        {
            case []:
                return $"certificate '{certificate.Subject}' has no SPIFFE id (spiffe://<trust-domain>/ns/<namespace>/sa/<service>) in its URI SAN";
            case [_, _, ..]:
                return $"certificate '{certificate.Subject}' carries {spiffe.Count} SPIFFE ids ({string.Join(", ", spiffe)}); a workload has exactly one";
        }
        if (!SpiffeId.TryParse(spiffe[0], out var parsed))
        {
            return $"certificate '{certificate.Subject}' has a malformed SPIFFE id '{spiffe[0]}' (expected spiffe://<trust-domain>/ns/<namespace>/sa/<service>)";
        }
        if (parsed.TrustDomain != trustDomain)
        {
            return $"certificate identity {parsed} is from trust domain '{parsed.TrustDomain}', not '{trustDomain}'";
        }
        id = parsed;
        return null;
    }

    private static string Explain(X509Certificate2? certificate, MeshCertificateAuthority ca, TimeProvider time, Exception failure)
    {
        if (certificate is null)
        {
            return Required;
        }
        return ca.Check(certificate, time.GetUtcNow(), out _)
            ?? $"certificate '{certificate.Subject}' (serial {certificate.SerialNumber}) was refused: {failure.Message}";
    }

    /// <summary>A refusal this class decided, whose reason is already the one to give.</summary>
    private sealed class RefusedCertificateException(string message) : Exception(message);
}
