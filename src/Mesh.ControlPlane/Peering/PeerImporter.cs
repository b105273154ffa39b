using System.Collections.Concurrent;
using System.Text.Json;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// Fetches what each active peer exports to this region, every <c>--peer-sync-interval</c>, and publishes it
/// with this region's own instances: imported instances keep their health and zone, take the peer's region
/// as locality, and are marked with the peer's name and trust domain. A peer that does not answer keeps its
/// last known instances, marked stale, until it answers again; nothing here ever touches this region's own
/// registry, so a partition between control planes costs a region nothing of its own.
/// Each import that changes is kept in <see cref="IImportCache"/> and read back at start (stale until the
/// peer answers), so a restart while a peer is down still routes to its last known instances. On etcd one
/// replica at a time, elected, fetches from the peers; the others publish what it keeps in etcd.
/// </summary>
internal sealed class PeerImporter(PeeringStore store, IImportCache cache, SnapshotPublisher publisher, ControlPlaneOptions options, TimeProvider time,
    ILogger<PeerImporter> logger, EtcdElection? election = null) : BackgroundService
{
    private readonly ConcurrentDictionary<string, PeerSync> _syncs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Key, PeerClient Client)> _clients = new(StringComparer.Ordinal);

    /// <summary>Peers whose changed import is not kept yet (etcd did not answer): written again next round.</summary>
    private readonly HashSet<string> _unsaved = new(StringComparer.Ordinal);

    /// <summary>On etcd, the office of the one replica that fetches from the peers.</summary>
    public const string OfficeKey = "/mesh/leaders/peer-import";

    /// <summary>How long the importing replica's office outlives it: another replica fetches within about this after it dies.</summary>
    public static readonly TimeSpan OfficeTtl = TimeSpan.FromSeconds(5);

    public PeerSync? Status(string peer) => _syncs.GetValueOrDefault(peer);

    /// <summary>Whether this replica fetches from the peers (always, but on etcd where only the elected one does).</summary>
    public bool IsImporting => election is null || election.IsLeader;

    /// <summary>Every peer's imported instances, by peer then instance, as they were last published.</summary>
    public IReadOnlyList<ServiceInstance> Imported => [.. _syncs.OrderBy(s => s.Key, StringComparer.Ordinal).SelectMany(s => s.Value.Instances)];

    /// <summary>
    /// Publishes the last imports kept from before this start, before any sidecar is served a snapshot (a snapshot
    /// without them would take the peers' instances from callers that had them): stale until each peer answers.
    /// </summary>
    public void Restore()
    {
        IReadOnlyDictionary<string, PeerSync> kept;
        HashSet<string> active;
        try
        {
            kept = cache.Load();
            active = store.List().Where(p => p.IsActive).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        }
        catch (Exception e) when (IsStorageFailure(e))
        {
            // A corrupt or unreadable copy costs only the restart's head start: the first fetch brings it all.
            PeeringLog.ImportsNotRestored(logger, e.Message);
            return;
        }
        foreach (var (peer, sync) in kept.Where(k => active.Contains(k.Key)))
        {
            _syncs[peer] = sync.AsStale("not fetched since this control plane started");
            PeeringLog.ImportsRestored(logger, sync.Instances.Count, peer);
        }
        if (!_syncs.IsEmpty)
        {
            publisher.SetImported(Imported);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The office is only held here; the loop below asks it each round whether to fetch or to follow.
        var campaign = election?.RunAsync(held => Task.Delay(Timeout.InfiniteTimeSpan, time, held), reason => PeeringLog.ImportOfficeLost(logger, reason), stoppingToken)
            ?? Task.CompletedTask;
        var leading = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (IsImporting != leading)
                {
                    leading = IsImporting;
                    // Whatever a past term could not keep is stale news now: the term that came between may have written since.
                    _unsaved.Clear();
                    if (election is not null && leading)
                    {
                        PeeringLog.ImportingOnThisReplica(logger, election.Candidate);
                    }
                }
                if (leading)
                {
                    await ImportAsync(stoppingToken).ConfigureAwait(false);
                }
                else if (Follow())
                {
                    publisher.SetImported(Imported);
                }
            }
            catch (Exception e) when (IsStorageFailure(e))
            {
                // What is published stays as it was: callers keep the imports they have.
                PeeringLog.ImportsNotShared(logger, e.Message);
            }
            try
            {
                await Task.Delay(options.PeerSyncInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await campaign.ConfigureAwait(false);
        if (election is not null)
        {
            await election.ResignAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Etcd or the data dir failing (or holding what does not parse): logged, and tried again next round, never taking the host down.</summary>
    private static bool IsStorageFailure(Exception e) => e is EtcdUnavailableException or Grpc.Core.RpcException or IOException or UnauthorizedAccessException or JsonException;

    /// <summary>One round of fetching from every active peer: what changed is published, then kept.</summary>
    private async Task ImportAsync(CancellationToken stoppingToken)
    {
        var active = store.List().Where(p => p.IsActive && p.RootPem is not null && p.Addresses.Count > 0).ToArray();
        var changed = false;
        foreach (var gone in _syncs.Keys.Where(k => active.All(p => p.Name != k)).ToArray())
        {
            changed |= _syncs.TryRemove(gone, out _);
            _unsaved.Add(gone);
            if (_clients.TryRemove(gone, out var old))
            {
                old.Client.Dispose();
            }
        }
        var results = await Task.WhenAll(active.Select(p => SyncAsync(p, stoppingToken))).ConfigureAwait(false);
        _unsaved.UnionWith(active.Zip(results).Where(r => r.Second).Select(r => r.First.Name));
        if (changed || results.Any(r => r))
        {
            publisher.SetImported(Imported);
        }
        // Callers here have it already; kept afterwards, so that etcd being away delays only the keeping.
        foreach (var peer in _unsaved.ToArray())
        {
            if (_syncs.TryGetValue(peer, out var sync))
            {
                cache.Save(peer, sync);
            }
            else
            {
                cache.Remove(peer);
            }
            _unsaved.Remove(peer);
        }
    }

    /// <summary>A replica not elected to import: takes what the importing one keeps in etcd; true when it changed.</summary>
    private bool Follow()
    {
        var active = store.List().Where(p => p.IsActive).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var kept = cache.Load().Where(k => active.Contains(k.Key)).ToDictionary(k => k.Key, k => k.Value, StringComparer.Ordinal);
        var changed = false;
        foreach (var gone in _syncs.Keys.Where(k => !kept.ContainsKey(k)).ToArray())
        {
            changed |= _syncs.TryRemove(gone, out _);
        }
        foreach (var (peer, sync) in kept)
        {
            var held = _syncs.GetValueOrDefault(peer);
            // Only what callers get counts as a change; the time of the importer's last fetch is shown but not pushed.
            if (held is null || held.Stale != sync.Stale || held.Json != sync.Json)
            {
                changed = true;
            }
            _syncs[peer] = sync;
        }
        return changed;
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
            _syncs[peering.Name] = previous.AsStale(e.Message);
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
