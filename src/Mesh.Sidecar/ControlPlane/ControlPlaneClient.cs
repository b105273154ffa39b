using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Failover;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Security;

namespace Mesh.Sidecar.ControlPlane;

/// <summary>What a watch call brought back: a new snapshot (raw JSON, saved as is) or no change.</summary>
/// <summary>What a watch call brought back: a full snapshot (with its raw JSON), a delta from the version sent, or no change.</summary>
internal sealed record WatchResult(MeshSnapshot? Snapshot, byte[]? Json, SnapshotDelta? Delta = null);

/// <summary>The control plane's trust bundle, with the bundles of the regions it is peered with.</summary>
internal sealed record TrustBundle(string TrustDomain, IReadOnlyList<string> Roots, IReadOnlyList<FederatedBundle>? Federated = null);

/// <summary>A peered region's trust domain and roots.</summary>
internal sealed record FederatedBundle(string TrustDomain, IReadOnlyList<string> Roots, string? Peer);

/// <summary>The body of <c>POST /v1/certificates</c>.</summary>
internal sealed record CertificateRequest(string Csr);

/// <summary>A workload certificate as the CA sends it.</summary>
internal sealed record IssuedCertificate(string Certificate, IReadOnlyList<string> CaCertificates, string TrustDomain, DateTimeOffset NotAfter);

/// <summary>
/// The sidecar's calls to the control plane's sidecar API: CA calls on a connection without a client
/// certificate until it has one, everything else presenting its workload certificate.
/// </summary>
internal sealed class ControlPlaneClient : IDisposable
{
    /// <summary>Old clients' last calls (a long poll) may still be running: they are disposed this long after replacement.</summary>
    private static readonly TimeSpan RetireAfter = TimeSpan.FromMinutes(1);

    private readonly HttpClient _bootstrap;
    private readonly ServerList _servers;
    private readonly SidecarOptions _options;
    private readonly ControlPlaneTrust _trust;
    private readonly WorkloadIdentity _identity;
    private volatile HttpClient? _workload;
    private readonly ILogger<ControlPlaneClient> _logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _leaseReplicas = new(StringComparer.Ordinal);

    public ControlPlaneClient(SidecarOptions options, ControlPlaneTrust trust, WorkloadIdentity identity, ILogger<ControlPlaneClient> logger)
    {
        _options = options;
        _logger = logger;
        _servers = trust.Servers;
        _servers.Moved += (from, to, reason) => Log.ControlPlaneMoved(logger, from.ToString(), reason, to.ToString());
        _trust = trust;
        _identity = identity;
        _bootstrap = CreateClient(null);
        if (identity.Value is { } known)
        {
            _workload = CreateClient(known.Certificate);
        }
        identity.Changed += current =>
        {
            // A new certificate takes a new connection: the control plane judges a caller by the
            // certificate its connection was made with.
            var previous = _workload;
            _workload = CreateClient(current.Certificate);
            if (previous is not null)
            {
                _ = Task.Delay(RetireAfter).ContinueWith(_ => previous.Dispose(), TaskScheduler.Default);
            }
        };
    }

    private HttpClient CreateClient(X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(3),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            // A sidecar talks to the control plane rarely except for its one long poll; HTTP/2 keeps
            // registration, heartbeats and the watch on a single connection.
            EnableMultipleHttp2Connections = false,
            AutomaticDecompression = DecompressionMethods.GZip, // snapshots come compressed
            // A replica that hangs (stopped, cut off) keeps the long poll's connection open: pings find it
            // within a few seconds, and the watch moves to the next replica. A killed one resets at once.
            KeepAlivePingDelay = TimeSpan.FromSeconds(2),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(3),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            ConnectCallback = ServerList.ConnectAsync,
        };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            _trust.Validate(certificate as X509Certificate2, errors);
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }
        return new HttpClient(new FailoverHandler(_servers, handler))
        {
            BaseAddress = _options.ControlPlane, // rebased by FailoverHandler onto the replica in use
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>The replica calls go to now.</summary>
    public Uri Current => _servers.Current.Url;

    /// <summary>Every replica, for a message saying none answered.</summary>
    public string All => string.Join(",", _servers.Urls);

    /// <summary>The client that presents the workload certificate, once there is one.</summary>
    private async Task<HttpClient> WorkloadAsync(CancellationToken cancellationToken)
    {
        await _trust.EnsureRootAsync(cancellationToken).ConfigureAwait(false);
        await _identity.WhenReady.WaitAsync(cancellationToken).ConfigureAwait(false);
        return _workload!;
    }

    /// <summary>The mesh's trust domain, from the control plane's trust bundle.</summary>
    public async Task<string> TrustDomainAsync(CancellationToken cancellationToken) =>
        (await TrustBundleAsync(cancellationToken).ConfigureAwait(false)).TrustDomain;

    /// <summary>The control plane's trust bundle (<c>GET /v1/ca/bundle</c>), federated bundles included.</summary>
    public async Task<TrustBundle> TrustBundleAsync(CancellationToken cancellationToken)
    {
        using var timeout = ShortTimeout(cancellationToken);
        using var response = await _bootstrap.GetAsync("/v1/ca/bundle", timeout.Token).ConfigureAwait(false);
        await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        var bundle = await response.Content.ReadFromJsonAsync(SidecarJson.Options.Info<TrustBundle>(), timeout.Token).ConfigureAwait(false);
        return bundle is { TrustDomain: not null } ? bundle : throw new HttpRequestException("the control plane's trust bundle names no trust domain");
    }

    /// <summary>
    /// Sends a CSR: with <paramref name="joinToken"/> for the first certificate (on a connection without a
    /// client certificate), or, without one, authenticated by the current certificate to renew it.
    /// </summary>
    public async Task<IssuedCertificate> RequestCertificateAsync(string csrPem, string? joinToken, CancellationToken cancellationToken)
    {
        var client = joinToken is null ? await WorkloadAsync(cancellationToken).ConfigureAwait(false) : _bootstrap;
        using var timeout = ShortTimeout(cancellationToken);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/certificates") { Content = JsonContent.Create(new CertificateRequest(csrPem), SidecarJson.Options.Info<CertificateRequest>()) };
        if (joinToken is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", joinToken);
        }
        using var response = await client.SendAsync(request, timeout.Token).ConfigureAwait(false);
        await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(SidecarJson.Options.Info<IssuedCertificate>(), timeout.Token).ConfigureAwait(false))!;
    }

    public async Task<LeaseGrant> RegisterAsync(Mesh.Core.Registry.Registration registration, CancellationToken cancellationToken)
    {
        var http = await WorkloadAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = ShortTimeout(cancellationToken);
        using var response = await http.PostAsJsonAsync("/v1/register", registration, SidecarJson.Options.Info<Mesh.Core.Registry.Registration>(), timeout.Token).ConfigureAwait(false);
        await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        NoteLeaseReplica(registration.InstanceId, response);
        return (await response.Content.ReadFromJsonAsync(SidecarJson.Options.Info<LeaseGrant>(), timeout.Token).ConfigureAwait(false))!;
    }

    /// <summary>Renews the lease; false when the control plane no longer knows the instance.</summary>
    public async Task<bool> HeartbeatAsync(string instanceId, HealthStatus health, CancellationToken cancellationToken, TrafficReport? traffic = null)
    {
        var http = await WorkloadAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = ShortTimeout(cancellationToken);
        using var response = await http.PutAsJsonAsync($"/v1/instances/{Uri.EscapeDataString(instanceId)}/heartbeat", new Heartbeat(health, traffic), SidecarJson.Options.Info<Heartbeat>(), timeout.Token).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        NoteLeaseReplica(instanceId, response);
        return true;
    }

    public async Task DeregisterAsync(string instanceId, CancellationToken cancellationToken)
    {
        var http = await WorkloadAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = ShortTimeout(cancellationToken);
        using var response = await http.DeleteAsync($"/v1/instances/{Uri.EscapeDataString(instanceId)}", timeout.Token).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Long-polls for a snapshot newer than <paramref name="received"/>, acknowledging what was applied.</summary>
    /// <summary>The control plane run (epoch) the last snapshot came from.</summary>
    public string? Epoch { get; private set; }

    /// <summary>
    /// What the control plane picks this sidecar's Sidecar resource by (its labels; a gateway is never
    /// scoped), and the scope of the snapshot it holds, so a snapshot cut by another scope is not patched.
    /// </summary>
    private string ScopeQuery(string? heldScope)
    {
        var query = new System.Text.StringBuilder();
        foreach (var (key, value) in _options.Labels)
        {
            query.Append("&label=").Append(Uri.EscapeDataString($"{key}={value}"));
        }
        if (_options.Gateway is not null)
        {
            query.Append("&gateway=1");
        }
        if (heldScope is { Length: > 0 })
        {
            query.Append("&scope=").Append(Uri.EscapeDataString(heldScope));
        }
        return query.ToString();
    }

    /// <param name="scope">The <see cref="SnapshotScope.Key"/> of the snapshot held, null when unscoped.</param>
    public async Task<WatchResult> WatchAsync(long received, long applied, string? error, TimeSpan wait, CancellationToken cancellationToken, bool deltaOk = false, string? scope = null)
    {
        var http = await WorkloadAsync(cancellationToken).ConfigureAwait(false);
        var query = $"/v1/snapshot?version={received}&applied={applied}&node={Uri.EscapeDataString(_options.NodeId)}"
            + (Epoch is null ? "" : $"&epoch={Epoch}")
            + (deltaOk && Epoch is not null ? "&delta=1" : "")
            + $"&service={Uri.EscapeDataString(_options.Service)}&namespace={Uri.EscapeDataString(_options.Namespace)}"
            + ScopeQuery(scope)
            + $"&wait={wait.ToString("c", CultureInfo.InvariantCulture)}"
            + (error is null ? "" : $"&error={Uri.EscapeDataString(error)}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait + TimeSpan.FromSeconds(10));
        using var response = await http.GetAsync(query, timeout.Token).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotModified)
        {
            return new WatchResult(null, null);
        }
        await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        var json = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
        Epoch = response.Headers.TryGetValues("X-Mesh-Epoch", out var epochs) ? epochs.FirstOrDefault() : null;
        if (response.Headers.Contains("X-Mesh-Delta"))
        {
            return new WatchResult(null, null, System.Text.Json.JsonSerializer.Deserialize(json, SidecarJson.Options.Info<SnapshotDelta>()));
        }
        return new WatchResult(System.Text.Json.JsonSerializer.Deserialize(json, SidecarJson.Options.Info<MeshSnapshot>()), json);
    }

    /// <summary>Logs when an instance's lease is renewed through another replica than the one before (FailoverHandler leaves the request on the replica that answered).</summary>
    private void NoteLeaseReplica(string instanceId, HttpResponseMessage response)
    {
        if (response.RequestMessage?.RequestUri?.GetLeftPart(UriPartial.Authority) is not { } replica)
        {
            return;
        }
        var previous = _leaseReplicas.GetValueOrDefault(instanceId);
        _leaseReplicas[instanceId] = replica;
        if (previous is not null && previous != replica)
        {
            Log.HeartbeatsMoved(_logger, instanceId, previous, replica);
        }
    }

    public void Dispose()
    {
        _bootstrap.Dispose();
        _workload?.Dispose();
    }

    private static CancellationTokenSource ShortTimeout(CancellationToken cancellationToken)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(5));
        return cts;
    }

    private static async Task EnsureSuccess(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new HttpRequestException($"{(int)response.StatusCode} {response.ReasonPhrase}: {body}", null, response.StatusCode);
        }
    }
}
