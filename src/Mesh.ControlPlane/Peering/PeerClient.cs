using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// Calls a peer's control plane: TLS checked against the peer's root alone (from its token, never the OS
/// store) and the address's name, the peering's secret as bearer, and the name the peer knows this side
/// under in <c>X-Mesh-Peering</c>. Addresses are tried in order; the first that answers is used.
/// </summary>
internal sealed class PeerClient : IDisposable
{
    public const string PeeringHeader = "X-Mesh-Peering";

    private readonly HttpClient _http;
    private readonly IReadOnlyList<Uri> _addresses;

    public PeerClient(string rootPem, IReadOnlyList<Uri> addresses, TimeSpan timeout)
    {
        var root = X509Certificate2.CreateFromPem(rootPem);
        _addresses = addresses;
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = timeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, errors) => Trusted(certificate, errors, root) },
        })
        { Timeout = timeout };
    }

    private static bool Trusted(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2 root)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    public async Task<TResponse> SendAsync<TResponse>(HttpMethod method, string path, string secret, string? asPeering, object? body, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        foreach (var address in _addresses)
        {
            using var request = new HttpRequestMessage(method, new Uri(address, path));
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
            if (asPeering is not null)
            {
                request.Headers.Add(PeeringHeader, asPeering);
            }
            if (body is not null)
            {
                request.Content = JsonContent.Create(body, options: Mesh.Core.Snapshots.MeshJson.Options);
            }
            try
            {
                using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                    // The peer answered and refused: another address of the same control plane would say the same.
                    throw new PeerRefusedException($"{address} answered {(int)response.StatusCode}: {text.Trim()}");
                }
                return await response.Content.ReadFromJsonAsync<TResponse>(Mesh.Core.Snapshots.MeshJson.Options, cancellationToken).ConfigureAwait(false)
                    ?? throw new PeerRefusedException($"{address} answered with an empty body");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                problems.Add($"{address}: {e.Message}");
            }
        }
        throw new HttpRequestException("no address of the peer answered: " + string.Join("; ", problems));
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The peer's control plane answered, and said no (a wrong secret, an unknown peering).</summary>
internal sealed class PeerRefusedException(string message) : Exception(message);
