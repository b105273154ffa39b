using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Failover;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.ControlPlane;

/// <summary>
/// Decides whether the control plane's TLS certificate is trusted: it must chain to the root given by
/// --ca-cert, or else to the root pinned in the data dir on first contact (trust on first use, as SSH
/// does: the root is fetched from the control plane, checked against the certificate it serves and
/// kept; from then on a different root is refused). The host name must always match.
/// </summary>
internal sealed class ControlPlaneTrust(SidecarOptions options, ILogger<ControlPlaneTrust> logger)
{
    private readonly SemaphoreSlim _pinning = new(1, 1);
    private volatile X509Certificate2? _root = options.CaCertPath is { } path ? X509Certificate2.CreateFromPem(File.ReadAllText(path)) : LoadPinned(options);

    /// <summary>The control plane's replicas; the trust and the client share them, so both use the one that answers.</summary>
    public ServerList Servers { get; } = new(options.ControlPlanes);

    private static string PinPath(SidecarOptions options) => Path.Combine(options.DataDir, "control-plane-ca.pem");

    public bool Validate(X509Certificate2? certificate, SslPolicyErrors errors) =>
        certificate is not null && _root is { } root && NameMatches(errors) && ChainsTo(certificate, root);

    /// <summary>Pins the control plane's root if none is known yet; a no-op afterwards.</summary>
    public async Task EnsureRootAsync(CancellationToken cancellationToken)
    {
        if (_root is not null || options.ControlPlane.Scheme != Uri.UriSchemeHttps)
        {
            return;
        }
        await _pinning.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_root is not null)
            {
                return;
            }
            X509Certificate2? served = null;
            var nameOk = false;
            using var handler = new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(3), ConnectCallback = ServerList.ConnectAsync };
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                served = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                nameOk = NameMatches(errors);
                return true; // judged below, once the root is in hand
            };
            using var http = new HttpClient(new FailoverHandler(Servers, handler), disposeHandler: false) { BaseAddress = options.ControlPlane, Timeout = TimeSpan.FromSeconds(5) };
            var pem = await http.GetStringAsync("/v1/ca/root", cancellationToken).ConfigureAwait(false);
            var root = X509Certificate2.CreateFromPem(pem);
            if (served is null || !nameOk || root.Subject != root.Issuer || !ChainsTo(served, root))
            {
                throw new HttpRequestException($"the control plane at {Servers.Current} serves a certificate that does not match its own root CA (or its host name); refusing to trust it");
            }
            Directory.CreateDirectory(options.DataDir);
            await File.WriteAllTextAsync(PinPath(options), root.ExportCertificatePem(), cancellationToken).ConfigureAwait(false);
            _root = root;
            Log.PinnedRoot(logger, root.Thumbprint, PinPath(options));
        }
        finally
        {
            _pinning.Release();
        }
    }

    private static bool NameMatches(SslPolicyErrors errors) =>
        (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0;

    private static bool ChainsTo(X509Certificate2 leaf, X509Certificate2 root)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }

    private static X509Certificate2? LoadPinned(SidecarOptions options)
    {
        var path = PinPath(options);
        return File.Exists(path) ? X509Certificate2.CreateFromPem(File.ReadAllText(path)) : null;
    }
}
