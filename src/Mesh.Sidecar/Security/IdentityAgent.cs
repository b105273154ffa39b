using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Hosting;
using Mesh.Core.Security;
using Mesh.Sidecar.ControlPlane;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Security;

/// <summary>
/// Gets and keeps this sidecar's workload certificate: a key pair made here, a CSR for
/// spiffe://&lt;trust-domain&gt;/ns/&lt;namespace&gt;/sa/&lt;service&gt; sent with the join token the first
/// time and with the current certificate after that, renewed at half its lifetime (retrying with
/// backoff while the old one is still valid). Kept in data-dir/identity/ so a restart, even without the
/// control plane, comes back with the same identity until it expires.
/// </summary>
internal sealed class IdentityAgent(
    SidecarOptions options,
    WorkloadIdentity identity,
    ControlPlaneClient controlPlane,
    ControlPlaneTrust trust,
    Readiness readiness,
    TimeProvider time,
    ILogger<IdentityAgent> logger) : BackgroundService
{
    /// <summary>Renew when this share of the lifetime (from receipt) has passed, as Istio's agent does.</summary>
    public const double RenewAt = 0.5;

    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));
    private bool _certificateRefused;

    private string Dir => Path.Combine(options.DataDir, "identity");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Restore();
        while (!stoppingToken.IsCancellationRequested)
        {
            var current = identity.Value;
            var now = time.GetUtcNow();
            if (current is not null && now < RenewalTime(current))
            {
                if (!await DelayAsync(RenewalTime(current) - now, stoppingToken).ConfigureAwait(false))
                {
                    return;
                }
                continue;
            }
            try
            {
                await ObtainAsync(current, stoppingToken).ConfigureAwait(false);
                _backoff.Reset();
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or CryptographicException or IOException && !stoppingToken.IsCancellationRequested)
            {
                if (e is HttpRequestException { StatusCode: HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden } && current is not null)
                {
                    _certificateRefused = true; // next time, start over with the join token
                }
                var delay = _backoff.Next();
                if (current is not null && current.NotAfter - now is var left && left > TimeSpan.Zero && delay > left / 4)
                {
                    delay = left / 4; // the certificate runs out soon: try again sooner
                }
                // The log and /ready say the same thing, naming the control plane when it could not be reached.
                var reason = e is HttpRequestException { StatusCode: null, Message: var m } && !m.StartsWith("a join token", StringComparison.Ordinal)
                    ? $"control plane {controlPlane.All} unreachable ({ExceptionText.Describe(e)})"
                    : ExceptionText.Describe(e);
                Log.CertificateFailed(logger, reason, _backoff.Attempt, delay);
                if (current is null || now >= current.NotAfter)
                {
                    readiness.SetIdentity($"no workload certificate: {reason}");
                }
                if (!await DelayAsync(delay, stoppingToken).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
    }

    public static DateTimeOffset RenewalTime(WorkloadIdentity.Current current) =>
        current.ReceivedAt + (current.NotAfter - current.ReceivedAt) * RenewAt;

    private async Task ObtainAsync(WorkloadIdentity.Current? current, CancellationToken cancellationToken)
    {
        await trust.EnsureRootAsync(cancellationToken).ConfigureAwait(false);
        var renewing = current is not null && time.GetUtcNow() < current.NotAfter && !_certificateRefused;
        string? joinToken = null;
        if (!renewing)
        {
            // The file may be provisioned after start (a mounted secret): it is read when needed.
            joinToken = JoinToken() ?? throw new HttpRequestException(options.JoinTokenFile is { } file
                ? $"a join token is needed for the first workload certificate, and --join-token-file {file} does not exist or is empty"
                : $"a join token is needed for the first workload certificate: pass --join-token-file or set MESH_JOIN_TOKEN (make one with: meshctl join-token create --service {options.Service} --namespace {options.Namespace})");
        }
        var trustDomain = current is not null && renewing ? current.TrustDomain : await controlPlane.TrustDomainAsync(cancellationToken).ConfigureAwait(false);
        var id = new SpiffeId(trustDomain, options.Namespace, options.Service);
        var (key, csr) = WorkloadCertificates.CreateRequest(id);
        using (key)
        {
            var issued = await controlPlane.RequestCertificateAsync(csr, joinToken, cancellationToken).ConfigureAwait(false);
            using var leaf = X509Certificate2.CreateFromPem(issued.Certificate);
            var certificate = leaf.CopyWithPrivateKey(key);
            var root = X509Certificate2.CreateFromPem(issued.CaCertificates[0]);
            var now = time.GetUtcNow();
            var problem = WorkloadCertificates.Check(certificate, root, trustDomain, now, out var got);
            if (problem is not null || got != id)
            {
                throw new CryptographicException($"the control plane issued an unusable certificate: {problem ?? $"identity {got} instead of {id}"}");
            }
            Save(certificate, key, root);
            identity.Set(certificate, root, id, now);
            _certificateRefused = false;
            readiness.SetIdentity(null);
            Log.CertificateObtained(logger, id.ToString(), certificate.SerialNumber, certificate.NotAfter.ToUniversalTime(), renewing ? "renewed" : "join token",
                RenewalTime(identity.Value!));
        }
    }

    /// <summary>The join token from --join-token-file or MESH_JOIN_TOKEN, read when needed (never logged).</summary>
    private string? JoinToken()
    {
        if (options.JoinTokenFile is { } file && File.Exists(file))
        {
            return File.ReadAllText(file).Trim() is { Length: > 0 } token ? token : null;
        }
        return Environment.GetEnvironmentVariable("MESH_JOIN_TOKEN") is { Length: > 0 } env ? env.Trim() : null;
    }

    private void Save(X509Certificate2 certificate, ECDsa key, X509Certificate2 root)
    {
        Directory.CreateDirectory(Dir);
        SecretFile.Write(Path.Combine(Dir, "key.pem"), key.ExportPkcs8PrivateKeyPem());
        AtomicFile.Write(Path.Combine(Dir, "cert.pem"), System.Text.Encoding.ASCII.GetBytes(certificate.ExportCertificatePem()));
        AtomicFile.Write(Path.Combine(Dir, "root.pem"), System.Text.Encoding.ASCII.GetBytes(root.ExportCertificatePem()));
    }

    /// <summary>Takes back the certificate a previous run saved, if it is still valid for this service.</summary>
    private void Restore()
    {
        var (certPath, keyPath, rootPath) = (Path.Combine(Dir, "cert.pem"), Path.Combine(Dir, "key.pem"), Path.Combine(Dir, "root.pem"));
        if (!File.Exists(certPath) || !File.Exists(keyPath) || !File.Exists(rootPath))
        {
            return;
        }
        try
        {
            var certificate = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            var root = X509Certificate2.CreateFromPem(File.ReadAllText(rootPath));
            var now = time.GetUtcNow();
            var id = SpiffeId.FromCertificate(certificate);
            if (id is null || id.Namespace != options.Namespace || id.Service != options.Service
                || WorkloadCertificates.Check(certificate, root, id.TrustDomain, now, out _) is not null)
            {
                return; // expired, or for another service: get a new one
            }
            // The CA backdates NotBefore by a minute; renewal counts from when it was issued.
            var issued = certificate.NotBefore.ToUniversalTime() + TimeSpan.FromMinutes(1);
            identity.Set(certificate, root, id, issued < now ? issued : now);
            readiness.SetIdentity(null);
            Log.CertificateRestored(logger, id.ToString(), certificate.SerialNumber, certificate.NotAfter.ToUniversalTime());
        }
        catch (Exception e) when (e is CryptographicException or IOException or ArgumentException)
        {
            Log.SavedSnapshotUnreadable(logger, certPath, e.Message);
        }
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
