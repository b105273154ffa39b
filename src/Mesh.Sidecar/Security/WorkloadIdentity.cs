using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Security;

namespace Mesh.Sidecar.Security;

/// <summary>
/// This sidecar's workload certificate (with its key, made here and never sent anywhere), the mesh
/// root it trusts peers by, and its trust domain. Swapped whole on renewal: new TLS handshakes use the
/// new certificate while connections made with the old one carry on.
/// </summary>
internal sealed class WorkloadIdentity
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Current? _current;

    public sealed record Current(X509Certificate2 Certificate, SslStreamCertificateContext Context, X509Certificate2 Root, SpiffeId Id, DateTimeOffset ReceivedAt)
    {
        public string TrustDomain => Id.TrustDomain;
        public DateTimeOffset NotAfter => Certificate.NotAfter.ToUniversalTime();
    }

    /// <summary>Raised after a new certificate is in place (first one, or renewed).</summary>
    public event Action<Current>? Changed;

    public Current? Value => _current;

    public Task WhenReady => _ready.Task;

    public void Set(X509Certificate2 certificate, X509Certificate2 root, SpiffeId id, DateTimeOffset receivedAt)
    {
        // Leaf only in the handshake: peers hold the root already.
        var context = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
        var current = new Current(certificate, context, root, id, receivedAt);
        _current = current;
        Changed?.Invoke(current);
        _ready.TrySetResult(); // after the handlers: whoever waited finds everything in place
    }

    /// <summary>Why a peer's certificate is not a valid workload certificate of this mesh, or null (then <paramref name="peer"/> is set).</summary>
    public string? CheckPeer(X509Certificate? certificate, DateTimeOffset now, out SpiffeId? peer)
    {
        peer = null;
        if (_current is not { } current)
        {
            return "this sidecar has no workload certificate yet";
        }
        if (certificate is null)
        {
            return "no client certificate";
        }
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return WorkloadCertificates.Check(leaf, current.Root, current.TrustDomain, now, out peer);
    }
}
