using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.ControlPlane;

/// <summary>What a watch call brought back: a new snapshot (raw JSON, saved as is) or no change.</summary>
internal sealed record WatchResult(MeshSnapshot? Snapshot, byte[]? Json);

/// <summary>The sidecar's calls to the control plane's sidecar API.</summary>
internal sealed class ControlPlaneClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly SidecarOptions _options;
    private readonly ControlPlaneTrust _trust;

    public ControlPlaneClient(SidecarOptions options, ControlPlaneTrust trust)
    {
        _options = options;
        _trust = trust;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(3),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            // A sidecar talks to the control plane rarely except for its one long poll; HTTP/2 keeps
            // registration, heartbeats and the watch on a single connection.
            EnableMultipleHttp2Connections = false,
        };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            trust.Validate(certificate as X509Certificate2, errors);
        _http = new HttpClient(handler)
        {
            BaseAddress = options.ControlPlane,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
    }

    public async Task<LeaseGrant> RegisterAsync(Mesh.Core.Registry.Registration registration, CancellationToken cancellationToken)
    {
        await _trust.EnsureRootAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = ShortTimeout(cancellationToken);
        using var response = await _http.PostAsJsonAsync("/v1/register", registration, MeshJson.Options, timeout.Token).ConfigureAwait(false);
        await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync<LeaseGrant>(MeshJson.Options, timeout.Token).ConfigureAwait(false))!;
    }

    /// <summary>Renews the lease; false when the control plane no longer knows the instance.</summary>
    public async Task<bool> HeartbeatAsync(string instanceId, HealthStatus health, CancellationToken cancellationToken)
    {
        await _trust.EnsureRootAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = ShortTimeout(cancellationToken);
        using var response = await _http.PutAsJsonAsync($"/v1/instances/{Uri.EscapeDataString(instanceId)}/heartbeat", new Heartbeat(health), MeshJson.Options, timeout.Token).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        return true;
    }

    public async Task DeregisterAsync(string instanceId, CancellationToken cancellationToken)
    {
        await _trust.EnsureRootAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = ShortTimeout(cancellationToken);
        using var response = await _http.DeleteAsync($"/v1/instances/{Uri.EscapeDataString(instanceId)}", timeout.Token).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Long-polls for a snapshot newer than <paramref name="received"/>, acknowledging what was applied.</summary>
    public async Task<WatchResult> WatchAsync(long received, long applied, string? error, TimeSpan wait, CancellationToken cancellationToken)
    {
        await _trust.EnsureRootAsync(cancellationToken).ConfigureAwait(false);
        var query = $"/v1/snapshot?version={received}&applied={applied}&node={Uri.EscapeDataString(_options.NodeId)}"
            + $"&service={Uri.EscapeDataString(_options.Service)}&namespace={Uri.EscapeDataString(_options.Namespace)}"
            + $"&wait={wait.ToString("c", CultureInfo.InvariantCulture)}"
            + (error is null ? "" : $"&error={Uri.EscapeDataString(error)}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait + TimeSpan.FromSeconds(10));
        using var response = await _http.GetAsync(query, timeout.Token).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotModified)
        {
            return new WatchResult(null, null);
        }
        await EnsureSuccess(response, timeout.Token).ConfigureAwait(false);
        var json = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
        return new WatchResult(System.Text.Json.JsonSerializer.Deserialize<MeshSnapshot>(json, MeshJson.Options), json);
    }

    public void Dispose() => _http.Dispose();

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
