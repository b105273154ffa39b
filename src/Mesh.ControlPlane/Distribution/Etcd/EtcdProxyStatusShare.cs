using System.Text.Json;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Distribution.Etcd;

/// <summary>
/// Proxy status for the whole mesh when replicas share etcd. Each replica writes the sidecars watching it to
/// <c>/mesh/proxy-status/&lt;replica&gt;</c> (one JSON list, on a lease of its own, so a dead replica's list
/// goes with it) shortly after a watch starts or ends and every few seconds; <c>/v1/proxy-status</c> on any
/// replica merges its own live list with the others' and lists each sidecar once: where it is connected, and
/// most recently seen. Each replica states versions in its own numbering (sidecars carry its epoch), so a
/// sidecar's status is computed by the replica it watches. With etcd unreachable a replica lists its own.
/// </summary>
internal sealed class EtcdProxyStatusShare(EtcdConnection etcd, ProxyStatusTracker tracker, SnapshotPublisher publisher, TimeProvider time)
    : BackgroundService, IProxyStatusView
{
    public const string Prefix = "/mesh/proxy-status/";
    private static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(3);
    // Watch calls come in bursts (a config change answers every sidecar's long poll at once): one write per burst.
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ReadBudget = TimeSpan.FromSeconds(1);
    private static readonly ByteString PrefixKey = ByteString.CopyFromUtf8(Prefix);
    private static readonly ByteString PrefixEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(Prefix));

    private readonly ByteString _key = ByteString.CopyFromUtf8(Prefix + tracker.Replica);
    private readonly SemaphoreSlim _changed = new(0, 1);
    private long _lease;

    public async Task<IReadOnlyList<ProxyStatus>> ListAsync(CancellationToken cancellationToken)
    {
        var own = tracker.List(publisher.Version);
        RangeResponse range;
        try
        {
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(ReadBudget);
            range = await etcd.CallAsync((c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = PrefixKey, RangeEnd = PrefixEnd }, o).ResponseAsync, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or EtcdUnavailableException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return own;
        }
        var others = range.Kvs.Where(kv => kv.Key != _key).SelectMany(kv => Decode(kv.Value));
        return Merge(own.Concat(others));
    }

    /// <summary>Each sidecar once: the entry where it is connected, else the one that saw it last.</summary>
    public static IReadOnlyList<ProxyStatus> Merge(IEnumerable<ProxyStatus> entries) =>
        [.. entries
            .GroupBy(s => s.Node, StringComparer.Ordinal)
            .Select(g => g.OrderByDescending(s => s.Connected).ThenByDescending(s => s.LastSeen).First())
            .OrderBy(s => s.Node, StringComparer.Ordinal)];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        tracker.Changed += Signal;
        string? written = null;
        var keptAlive = time.GetTimestamp();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await _changed.WaitAsync(Refresh, stoppingToken).ConfigureAwait(false);
                await Task.Delay(Debounce, time, stoppingToken).ConfigureAwait(false);
                try
                {
                    if (_lease == 0)
                    {
                        _lease = (await etcd.CallAsync((c, o) => new Lease.LeaseClient(c).LeaseGrantAsync(new LeaseGrantRequest { TTL = EtcdKeys.LeaseSeconds(LeaseTtl) }, o).ResponseAsync, stoppingToken).ConfigureAwait(false)).ID;
                        (written, keptAlive) = (null, time.GetTimestamp());
                    }
                    var json = JsonSerializer.Serialize(tracker.List(publisher.Version), MeshJson.Options);
                    if (json != written)
                    {
                        await etcd.CallAsync((c, o) => new KV.KVClient(c).PutAsync(new PutRequest { Key = _key, Value = ByteString.CopyFromUtf8(json), Lease = _lease }, o).ResponseAsync, stoppingToken).ConfigureAwait(false);
                        written = json;
                    }
                    if (time.GetElapsedTime(keptAlive) >= Refresh)
                    {
                        if (await etcd.KeepAliveAsync(_lease, stoppingToken).ConfigureAwait(false) <= 0)
                        {
                            _lease = 0; // expired (etcd was away longer than the TTL): a new lease and a fresh write
                        }
                        keptAlive = time.GetTimestamp();
                    }
                }
                catch (Exception e) when (e is RpcException or EtcdUnavailableException)
                {
                    _lease = e is RpcException { StatusCode: StatusCode.NotFound } ? 0 : _lease; // the lease is gone
                    written = null; // unknown whether it landed: write again next time
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            tracker.Changed -= Signal;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_lease != 0)
        {
            // This replica's sidecars move elsewhere: its list goes at once instead of after the TTL.
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(TimeSpan.FromSeconds(2));
            await etcd.RevokeAsync(_lease, bounded.Token).ConfigureAwait(false);
        }
    }

    private void Signal()
    {
        try
        {
            _changed.Release();
        }
        catch (SemaphoreFullException)
        {
            // A write is due already.
        }
    }

    private static ProxyStatus[] Decode(ByteString value)
    {
        try
        {
            return JsonSerializer.Deserialize<ProxyStatus[]>(value.Span, MeshJson.Options) ?? [];
        }
        catch (JsonException)
        {
            return []; // a replica of another version: its sidecars are listed once it writes what this one reads
        }
    }
}
