using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// Removes instances left without a live key, on one replica at a time (elected, <see cref="EtcdKeys.SweeperLeader"/>).
/// A live key goes without its instance when the session of the replica that kept it alive runs out (that
/// replica died or was cut off from etcd, or every replica was down); the replica itself expires what stops
/// heart-beating through it (<see cref="EtcdLiveLeases"/>). The sweeper watches those deletions, waits the
/// restore grace (<see cref="LapseSchedule"/>: the sidecar moves to another replica, which puts its live key
/// back) and then removes the instance key in a transaction that holds only while the live key is still
/// absent, so a heartbeat meanwhile wins, and an instance is removed once for the mesh.
/// </summary>
internal sealed class EtcdLeaseSweeper : BackgroundService
{
    public static readonly TimeSpan OfficeTtl = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(250);
    private static readonly ByteString Registry = ByteString.CopyFromUtf8(EtcdKeys.Registry);
    private static readonly ByteString RegistryEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(EtcdKeys.Registry));
    private static readonly ByteString Live = ByteString.CopyFromUtf8(EtcdKeys.Live);
    private static readonly ByteString LiveEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(EtcdKeys.Live));
    private static readonly Metadata RequireLeader = new() { { "hasleader", "true" } };

    private readonly EtcdConnection _etcd;
    private readonly ServiceRegistry _registry;
    private readonly TimeProvider _time;
    private readonly ILogger<EtcdLeaseSweeper> _logger;
    private readonly EtcdElection _election;

    public EtcdLeaseSweeper(EtcdConnection etcd, ServiceRegistry registry, ControlPlaneOptions options, TimeProvider time, ILogger<EtcdLeaseSweeper> logger)
    {
        (_etcd, _registry, _time, _logger) = (etcd, registry, time, logger);
        _election = new EtcdElection(etcd, EtcdKeys.SweeperLeader, $"{Environment.MachineName}:{options.Port} (pid {Environment.ProcessId})", OfficeTtl, time);
    }

    public bool IsSweeper => _election.IsLeader;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _election.RunAsync(SweepAsync, reason => Log.SweeperLost(_logger, _election.Candidate, reason), stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await _election.ResignAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task SweepAsync(CancellationToken leading)
    {
        var schedule = new LapseSchedule(_registry.Options, _time);
        var revision = await TakeStockAsync(schedule, leading).ConfigureAwait(false);
        Log.SweeperElected(_logger, _election.Candidate, schedule.Pending, _registry.Options.RestoreGrace);
        var watch = _etcd.FollowAsync(ct => WatchAsync(schedule, () => revision, r => revision = r, ct),
            reason => Log.EtcdWatchBroken(_logger, reason, revision), leading);
        try
        {
            using var timer = new PeriodicTimer(SweepInterval, _time);
            while (await timer.WaitForNextTickAsync(leading).ConfigureAwait(false))
            {
                IReadOnlyList<string> due;
                lock (schedule)
                {
                    due = schedule.TakeDue();
                }
                foreach (var id in due)
                {
                    await RemoveIfLapsedAsync(id, schedule, leading).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await watch.ConfigureAwait(false);
        }
    }

    /// <summary>Every instance with no live key gets the restore grace; returns the revision read at.</summary>
    private async Task<long> TakeStockAsync(LapseSchedule schedule, CancellationToken cancellationToken)
    {
        var range = await _etcd.CallAsync((c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = Registry, RangeEnd = RegistryEnd, KeysOnly = true }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        var live = new HashSet<string>(StringComparer.Ordinal);
        var instances = new List<string>();
        foreach (var kv in range.Kvs)
        {
            var key = kv.Key.ToStringUtf8();
            if (EtcdKeys.LiveId(key) is { } liveId)
            {
                live.Add(liveId);
            }
            else if (EtcdKeys.InstanceId(key) is { } id)
            {
                instances.Add(id);
            }
        }
        lock (schedule)
        {
            foreach (var id in instances.Where(i => !live.Contains(i)))
            {
                schedule.Orphaned(id);
            }
        }
        return range.Header.Revision;
    }

    private async Task WatchAsync(LapseSchedule schedule, Func<long> from, Action<long> advanced, CancellationToken cancellationToken)
    {
        using var call = new Watch.WatchClient(_etcd.Current).Watch(RequireLeader, cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = Live, RangeEnd = LiveEnd, StartRevision = from() + 1, ProgressNotify = true },
        }, cancellationToken).ConfigureAwait(false);
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var response = call.ResponseStream.Current;
            if (response.CompactRevision > 0)
            {
                // Deletions since our revision are gone from etcd's history: take stock again.
                advanced(await TakeStockAsync(schedule, cancellationToken).ConfigureAwait(false));
                return;
            }
            if (response.Canceled)
            {
                throw new InvalidOperationException($"etcd cancelled the watch of live leases: {response.CancelReason}");
            }
            lock (schedule)
            {
                foreach (var e in response.Events)
                {
                    if (EtcdKeys.LiveId(e.Kv.Key.ToStringUtf8()) is not { } id)
                    {
                        continue;
                    }
                    if (e.Type == Mvccpb.Event.Types.EventType.Put)
                    {
                        schedule.Renewed(id);
                    }
                    else if (_registry.Find(id) is not null)
                    {
                        // Also seen when a replica expired the instance itself (both keys in one transaction):
                        // the removal then finds no instance key, and logs nothing.
                        schedule.Orphaned(id);
                    }
                }
            }
            if (response.Header is { } header)
            {
                advanced(Math.Max(from(), response.Events.Count > 0 ? response.Events.Max(e => e.Kv.ModRevision) : header.Revision));
            }
        }
    }

    /// <summary>Deletes the instance's key if its live key is still absent; logs the expiry when it did.</summary>
    private async Task RemoveIfLapsedAsync(string id, LapseSchedule schedule, CancellationToken cancellationToken)
    {
        var instance = _registry.Find(id);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = ByteString.CopyFromUtf8(EtcdKeys.LiveKey(id)), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(EtcdKeys.Instance(id)) } });
        try
        {
            var response = await _etcd.CallAsync((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
            if (response.Succeeded && response.Responses[0].ResponseDeleteRange.Deleted > 0 && instance is not null)
            {
                Log.LeaseExpired(_logger, instance.InstanceId, instance.Service, instance.Namespace, instance.Address, instance.Port);
            }
        }
        catch (Exception e) when (e is RpcException or EtcdUnavailableException)
        {
            Log.RegistryWriteFailed(_logger, $"removing {id}, whose lease lapsed: {e.Message}; trying again");
            lock (schedule)
            {
                schedule.Retry(id);
            }
        }
    }
}
