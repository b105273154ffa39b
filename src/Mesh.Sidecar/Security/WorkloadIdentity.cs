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
    private volatile IReadOnlyDictionary<string, X509Certificate2> _federated = new Dictionary<string, X509Certificate2>(StringComparer.Ordinal);

    public sealed record Current(X509Certificate2 Certificate, SslStreamCertificateContext Context, X509Certificate2 Root, SpiffeId Id, DateTimeOffset ReceivedAt)
    {
        public string TrustDomain => Id.TrustDomain;
        public DateTimeOffset NotAfter => Certificate.NotAfter.ToUniversalTime();
    }

    /// <summary>
    /// Raised when a peer proves an identity of a trust domain this sidecar holds no root for (a region
    /// peered since the last bundle fetch): the federated bundle is fetched again, so the next attempt passes.
    /// </summary>
    public event Action<string>? UnknownTrustDomain;

    /// <summary>The roots of peered regions' trust domains (SPIFFE trust bundle federation), by trust domain.</summary>
    public IReadOnlyDictionary<string, X509Certificate2> Federated => _federated;

    public void SetFederated(IReadOnlyDictionary<string, X509Certificate2> roots) => _federated = roots;

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
        // A peered region's workload keeps its own trust domain and chains to its own root, and only to it.
        if (SpiffeId.FromCertificate(leaf) is { } claimed && claimed.TrustDomain != current.TrustDomain)
        {
            if (_federated.TryGetValue(claimed.TrustDomain, out var root))
            {
                return WorkloadCertificates.Check(leaf, root, claimed.TrustDomain, now, out peer);
            }
            UnknownTrustDomain?.Invoke(claimed.TrustDomain);
        }
        return WorkloadCertificates.Check(leaf, current.Root, current.TrustDomain, now, out peer);
    }
}
