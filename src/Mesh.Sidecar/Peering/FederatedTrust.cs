using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Mesh.Core.Hosting;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.ControlPlane;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Security;

namespace Mesh.Sidecar.Peering;

/// <summary>
/// Keeps the roots of peered regions (the control plane's federated trust bundle, <c>GET /v1/ca/bundle</c>)
/// in <see cref="WorkloadIdentity"/>, so this sidecar accepts their workloads' identities inbound and checks
/// their servers outbound. Fetched at start, every <see cref="Refresh"/>, and at once (at most once a second)
/// when a snapshot names an imported endpoint of a trust domain it has no root for, or a peer presents one.
/// Kept in the data dir, so a restart while the control plane is away still trusts the peers it knew.
/// </summary>
internal sealed partial class FederatedTrust(ControlPlaneClient client, WorkloadIdentity identity, MeshState state, SidecarOptions options,
    TimeProvider time, ILogger<FederatedTrust> logger) : BackgroundService
{
    public static readonly TimeSpan Refresh = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MinimumGap = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _wake = new(0, 1);

    private string SavedPath => Path.Combine(options.DataDir, "federated-roots.json");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LoadSaved();
        identity.UnknownTrustDomain += _ => Wake();
        _ = WatchSnapshotsAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await identity.WhenReady.WaitAsync(stoppingToken).ConfigureAwait(false);
                var bundle = await client.TrustBundleAsync(stoppingToken).ConfigureAwait(false);
                Apply(bundle.Federated ?? [], save: true);
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !stoppingToken.IsCancellationRequested)
            {
                LogFetchFailed(logger, e.Message);
            }
            try
            {
                await Task.Delay(MinimumGap, time, stoppingToken).ConfigureAwait(false);
                await _wake.WaitAsync(Refresh - MinimumGap, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // another wake-up got there first
            }
        }
    }

    /// <summary>A snapshot naming an imported endpoint of an unknown trust domain (a region peered since the last fetch) wakes a fetch.</summary>
    private async Task WatchSnapshotsAsync(CancellationToken cancellationToken)
    {
        long version = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (await state.WaitNewerAsync(version, TimeSpan.FromMinutes(5), cancellationToken).ConfigureAwait(false) is not { } applied)
                {
                    continue;
                }
                version = applied.Snapshot.Version;
                var own = identity.Value?.TrustDomain;
                if (applied.Snapshot.Instances.Any(i => i.TrustDomain is { } td && td != own && !identity.Federated.ContainsKey(td)))
                {
                    Wake();
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Apply(IReadOnlyList<FederatedBundle> bundles, bool save)
    {
        var roots = new Dictionary<string, X509Certificate2>(StringComparer.Ordinal);
        foreach (var bundle in bundles.Where(b => b.Roots.Count > 0))
        {
            try
            {
                roots[bundle.TrustDomain] = X509Certificate2.CreateFromPem(bundle.Roots[0]);
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                LogBadRoot(logger, bundle.TrustDomain, e.Message);
            }
        }
        var before = identity.Federated;
        if (before.Count == roots.Count && roots.All(r => before.TryGetValue(r.Key, out var held) && held.Thumbprint == r.Value.Thumbprint))
        {
            return;
        }
        identity.SetFederated(roots);
        LogFederated(logger, roots.Count == 0 ? "none" : string.Join(", ", bundles.Select(b => $"{b.TrustDomain} (peer {b.Peer ?? "?"})")));
        if (save)
        {
            Directory.CreateDirectory(options.DataDir);
            AtomicFile.Write(SavedPath, JsonSerializer.SerializeToUtf8Bytes(bundles.ToArray(), SidecarJson.Options.Info<FederatedBundle[]>()));
        }
    }

    private void LoadSaved()
    {
        if (!File.Exists(SavedPath))
        {
            return;
        }
        try
        {
            Apply(JsonSerializer.Deserialize(File.ReadAllBytes(SavedPath), SidecarJson.Options.Info<FederatedBundle[]>()) ?? [], save: false);
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            LogFetchFailed(logger, $"{SavedPath} unreadable: {e.Message}");
        }
    }

    [LoggerMessage(300, LogLevel.Information, "Federated trust: accepting identities of {TrustDomains}")]
    private static partial void LogFederated(ILogger logger, string trustDomains);

    [LoggerMessage(301, LogLevel.Warning, "Federated trust bundle not fetched: {Reason}; keeping the roots held")]
    private static partial void LogFetchFailed(ILogger logger, string reason);

    [LoggerMessage(302, LogLevel.Warning, "Federated root of {TrustDomain} is not a PEM certificate: {Reason}")]
    private static partial void LogBadRoot(ILogger logger, string trustDomain, string reason);
}
