using System.Collections.Concurrent;
using System.Text.Json;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// Fetches what each active peer exports to this region, every <c>--peer-sync-interval</c>, and publishes it
/// with this region's own instances: imported instances keep their health and zone, take the peer's region
/// as locality, and are marked with the peer's name and trust domain. A peer that does not answer keeps its
/// last known instances, marked stale, until it answers again; nothing here ever touches this region's own
/// registry, so a partition between control planes costs a region nothing of its own.
/// </summary>
internal sealed class PeerImporter(PeeringStore store, SnapshotPublisher publisher, ControlPlaneOptions options, TimeProvider time, ILogger<PeerImporter> logger)
    : BackgroundService
{
    private readonly ConcurrentDictionary<string, PeerSync> _syncs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Key, PeerClient Client)> _clients = new(StringComparer.Ordinal);

    /// <summary>What was last imported from one peer, and how the last attempt went.</summary>
    internal sealed record PeerSync(string Json, IReadOnlyList<ServiceInstance> Instances, bool Stale, DateTimeOffset? LastSync, string? LastError);

    public PeerSync? Status(string peer) => _syncs.GetValueOrDefault(peer);

    /// <summary>Every peer's imported instances, by peer then instance, as they were last published.</summary>
    public IReadOnlyList<ServiceInstance> Imported => [.. _syncs.OrderBy(s => s.Key, StringComparer.Ordinal).SelectMany(s => s.Value.Instances)];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var active = store.List().Where(p => p.IsActive && p.RootPem is not null && p.Addresses.Count > 0).ToArray();
            var changed = false;
            foreach (var gone in _syncs.Keys.Where(k => active.All(p => p.Name != k)).ToArray())
            {
                changed |= _syncs.TryRemove(gone, out _);
                if (_clients.TryRemove(gone, out var old))
                {
                    old.Client.Dispose();
                }
            }
            var results = await Task.WhenAll(active.Select(p => SyncAsync(p, stoppingToken))).ConfigureAwait(false);
            if (changed || results.Any(r => r))
            {
                publisher.SetImported(Imported);
            }
            try
            {
                await Task.Delay(options.PeerSyncInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One fetch from one peer; true when what is imported from it changed.</summary>
    private async Task<bool> SyncAsync(Peering peering, CancellationToken cancellationToken)
    {
        var previous = _syncs.GetValueOrDefault(peering.Name);
        try
        {
            var answer = await Client(peering).SendAsync<ExportedAnswer>(HttpMethod.Get, "/v1/peering/exported", peering.Secret, peering.RemoteName, null, cancellationToken).ConfigureAwait(false);
            var json = JsonSerializer.Serialize(answer, MeshJson.Options);
            if (previous is { Stale: false } && previous.Json == json)
            {
                _syncs[peering.Name] = previous with { LastSync = time.GetUtcNow(), LastError = null };
                return false;
            }
            var imported = answer.Instances.Select(i => i with
            {
                InstanceId = $"{i.InstanceId}@{peering.Name}",
                Peer = peering.Name,
                TrustDomain = answer.TrustDomain,
                Region = peering.Locality,
                Stale = false,
            }).ToArray();
            _syncs[peering.Name] = new PeerSync(json, imported, false, time.GetUtcNow(), null);
            if (previous is { Stale: true })
            {
                PeeringLog.PeerBack(logger, peering.Name);
            }
            PeeringLog.Imported(logger, imported.Length, peering.Name);
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or PeerRefusedException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            if (previous is null)
            {
                _syncs[peering.Name] = new PeerSync("", [], true, null, e.Message);
                return false;
            }
            if (previous.Stale)
            {
                _syncs[peering.Name] = previous with { LastError = e.Message };
                return false;
            }
            PeeringLog.PeerUnreachable(logger, peering.Name, e.Message, previous.Instances.Count);
            _syncs[peering.Name] = previous with { Instances = previous.Instances.Select(i => i with { Stale = true }).ToArray(), Stale = true, LastError = e.Message };
            return true;
        }
    }

    private PeerClient Client(Peering peering)
    {
        var key = $"{peering.RootPem}|{string.Join(',', peering.Addresses)}";
        if (_clients.TryGetValue(peering.Name, out var held) && held.Key == key)
        {
            return held.Client;
        }
        // A fetch waits at most a couple of intervals: a partitioned peer must not hold up the others' syncs for long.
        var timeout = TimeSpan.FromTicks(Math.Clamp(options.PeerSyncInterval.Ticks * 2, TimeSpan.FromSeconds(2).Ticks, TimeSpan.FromSeconds(10).Ticks));
        var client = new PeerClient(peering.RootPem!, peering.Addresses, timeout);
        _clients[peering.Name] = (key, client);
        held.Client?.Dispose();
        return client;
    }

    public override void Dispose()
    {
        foreach (var (_, client) in _clients.Values)
        {
            client.Dispose();
        }
        base.Dispose();
    }
}
