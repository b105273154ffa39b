using System.Text.Json;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// The registry on etcd (<c>--store etcd</c>), shared by every control-plane replica on the same etcd.
/// Each instance is a key on no lease and a live key on the session of the replica its sidecar heartbeats
/// through (<see cref="EtcdKeys"/>, <see cref="EtcdLiveLeases"/>): a heartbeat renews the lease in that
/// replica's memory, and reaches etcd only when the instance changes, or moves to this replica (its live key
/// is put on this replica's session), or its live key is gone (every replica was down, or etcd was), when it
/// is put again instead of turning the sidecar away, so an outage of the control plane expires nothing that
/// was being renewed. Every replica follows the keys with one etcd watch and applies what it sees to its own
/// <see cref="ServiceRegistry"/>, which snapshots, DNS and the admin API read as with the file store. A
/// registration is applied to this replica's registry as soon as etcd has it, and other writes return once
/// this replica's watch has seen them, so a sidecar's next call to the same replica finds its write; a
/// heartbeat for an instance this replica has not seen yet reads it from etcd before answering 404.
/// </summary>
internal sealed class EtcdRegistryStore(EtcdConnection etcd, ServiceRegistry registry, ControlPlaneOptions options, TimeProvider time, ILogger<EtcdRegistryStore> logger)
    : BackgroundService, IRegistryStore
{
    private static readonly TimeSpan ReadYourWriteTimeout = TimeSpan.FromSeconds(5);
    private static readonly ByteString Prefix = ByteString.CopyFromUtf8(EtcdKeys.Registry);
    private static readonly ByteString PrefixEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(EtcdKeys.Registry));
    // The watch is cancelled by etcd when its member loses the leader, instead of going silent.
    private static readonly Metadata RequireLeader = new() { { "hasleader", "true" } };

    private readonly EtcdLiveLeases _live = new(etcd, registry, $"{Environment.MachineName}:{options.Port} (pid {Environment.ProcessId})", time, logger);
    private readonly Lock _gate = new();
    private long _revision;
    private TaskCompletionSource _advanced = NewSignal();

    /// <summary>The mass-expiry hold on the instances that heartbeat through this replica, or null.</summary>
    public LeaseHold? Hold => _live.Hold;

    /// <summary>The etcd revision this replica's registry reflects.</summary>
    public long Revision => Volatile.Read(ref _revision);

    /// <summary>
    /// Reads every instance from etcd into the registry, waiting for etcd as long as it takes (a replica
    /// with no registry must not serve an empty one), and returns the revision read at. Called once at
    /// start-up, before anything is served; the watch continues from there.
    /// </summary>
    public long Load(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                var (instances, revision) = ReadAllAsync(cancellationToken).GetAwaiter().GetResult();
                registry.Restore(instances);
                Volatile.Write(ref _revision, revision);
                Log.EtcdRegistryLoaded(logger, instances.Count, revision, string.Join(",", etcd.Endpoints));
                return revision;
            }
            catch (EtcdUnavailableException e)
            {
                Log.EtcdWaiting(logger, e.Message);
            }
        }
    }

    public async Task<LeaseGrant> RegisterAsync(Registration registration, CancellationToken cancellationToken)
    {
        var ttl = registry.Options.LeaseTtl;
        var now = time.GetUtcNow();
        var session = await _live.SessionAsync(cancellationToken).ConfigureAwait(false);
        var instance = registration.ToInstance(registry.Find(registration.InstanceId)?.RegisteredAt ?? now, now + ttl);
        var txn = new TxnRequest();
        txn.Success.Add(Put(instance));
        txn.Success.Add(_live.PutLive(instance.InstanceId, session));
        await TxnAsync(txn, cancellationToken).ConfigureAwait(false);
        // Applied here at once rather than when this replica's watch delivers it: a watch lagging under load
        // must not answer the sidecar's first heartbeat 404 (a re-registration, more load, more lag). The
        // watch applies the same put again when it comes.
        _live.Adopted(registration.InstanceId, session);
        registry.Apply(instance);
        return new LeaseGrant(ttl, registry.Options.HeartbeatInterval);
    }

    public async Task<bool> RenewAsync(string instanceId, HealthStatus health, CancellationToken cancellationToken)
    {
        if ((registry.Find(instanceId) ?? await ReadAsync(instanceId, cancellationToken).ConfigureAwait(false)) is not { } instance)
        {
            return false; // removed: the sidecar registers again
        }
        if (!_live.KeepsAlive(instanceId))
        {
            return await AdoptAsync(instance with { Health = health }, changed: instance.Health != health, cancellationToken).ConfigureAwait(false);
        }
        _live.Renewed(instanceId);
        if (!_live.Confirmed)
        {
            // Renewed here, but etcd may be letting this replica's session run out: the sidecar is told, and
            // moves to a replica that reaches etcd if there is one.
            throw new EtcdUnavailableException($"etcd has not confirmed this replica's session for {registry.Options.LeaseTtl / 2} ({string.Join(", ", etcd.Endpoints)})");
        }
        if (instance.Health != health)
        {
            return await PutIfPresentAsync(instance with { Health = health }, cancellationToken).ConfigureAwait(false);
        }
        return true;
    }

    public async Task<bool> DeregisterAsync(string instanceId, CancellationToken cancellationToken)
    {
        var txn = new TxnRequest();
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(EtcdKeys.Instance(instanceId)) } });
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(EtcdKeys.LiveKey(instanceId)) } });
        var deleted = await TxnAsync(txn, cancellationToken).ConfigureAwait(false);
        _live.Forget(instanceId);
        if (deleted.Responses[0].ResponseDeleteRange.Deleted == 0)
        {
            return false; // nothing changed, so no watch event will come to wait for
        }
        await WaitAppliedAsync(deleted.Header.Revision, cancellationToken).ConfigureAwait(false);
        return true;
    }

    public async Task<bool> MarkUnreachableAsync(string instanceId, CancellationToken cancellationToken) =>
        registry.Find(instanceId) is { Health: HealthStatus.Healthy } instance
        && await PutIfPresentAsync(instance with { Health = HealthStatus.Unhealthy }, cancellationToken).ConfigureAwait(false);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(
        etcd.FollowAsync(WatchAsync, reason => Log.EtcdWatchBroken(logger, reason, Revision), stoppingToken),
        _live.RunAsync(stoppingToken));

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await _live.RevokeAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One watch stream from the revision after the last one applied, until it breaks or etcd cancels it.</summary>
    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        using var call = new Watch.WatchClient(etcd.Current).Watch(RequireLeader, cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = Prefix, RangeEnd = PrefixEnd, StartRevision = Revision + 1, ProgressNotify = true },
        }, cancellationToken).ConfigureAwait(false);
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var response = call.ResponseStream.Current;
            if (response.CompactRevision > 0)
            {
                // What happened since our revision is gone from etcd's history: read everything again.
                Log.EtcdCompacted(logger, Revision, response.CompactRevision);
                await ReloadAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            if (response.Canceled)
            {
                throw new InvalidOperationException($"etcd cancelled the watch: {response.CancelReason}");
            }
            var revision = Revision;
            foreach (var e in response.Events)
            {
                Apply(e.Type, e.Kv);
                revision = Math.Max(revision, e.Kv.ModRevision);
            }
            if (response.Events.Count == 0 && !response.Created && response.Header is { } header)
            {
                revision = Math.Max(revision, header.Revision); // a progress notification: nothing missed up to here
            }
            Advance(revision);
        }
    }

    private void Apply(Mvccpb.Event.Types.EventType type, Mvccpb.KeyValue kv)
    {
        var key = kv.Key.ToStringUtf8();
        if (EtcdKeys.LiveId(key) is { } live)
        {
            if (type == Mvccpb.Event.Types.EventType.Delete)
            {
                _live.Gone(live);
            }
            else
            {
                _live.Observed(live, kv.Lease);
            }
            return;
        }
        if (EtcdKeys.InstanceId(key) is not { } id)
        {
            return;
        }
        if (type == Mvccpb.Event.Types.EventType.Delete)
        {
            if (registry.Deregister(id))
            {
                Log.EtcdInstanceRemoved(logger, id, kv.ModRevision);
            }
            return;
        }
        if (Decode(kv) is { } instance)
        {
            registry.Apply(instance with { LeaseExpiresAt = time.GetUtcNow() + registry.Options.LeaseTtl });
        }
    }

    private ServiceInstance? Decode(Mvccpb.KeyValue kv)
    {
        try
        {
            return JsonSerializer.Deserialize<ServiceInstance>(kv.Value.Span, MeshJson.Options);
        }
        catch (JsonException e)
        {
            Log.EtcdBadValue(logger, kv.Key.ToStringUtf8(), e.Message);
            return null;
        }
    }

    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        var (instances, revision) = await ReadAllAsync(cancellationToken).ConfigureAwait(false);
        var present = instances.Select(i => i.InstanceId).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in registry.Instances.Where(i => !present.Contains(i.InstanceId)))
        {
            registry.Deregister(gone.InstanceId);
        }
        foreach (var instance in instances)
        {
            registry.Apply(instance);
        }
        Volatile.Write(ref _revision, revision);
        Advance(revision);
    }

    private async Task<(List<ServiceInstance> Instances, long Revision)> ReadAllAsync(CancellationToken cancellationToken)
    {
        var range = await etcd.CallAsync((c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = Prefix, RangeEnd = PrefixEnd }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        var instances = new List<ServiceInstance>(range.Kvs.Count);
        foreach (var kv in range.Kvs)
        {
            var key = kv.Key.ToStringUtf8();
            if (EtcdKeys.LiveId(key) is { } live)
            {
                _live.Observed(live, kv.Lease);
            }
            else if (EtcdKeys.InstanceId(key) is not null && Decode(kv) is { } instance)
            {
                instances.Add(instance);
            }
        }
        return (instances, range.Header.Revision);
    }

    /// <summary>
    /// An instance this replica's registry does not hold (yet), read from etcd: its watch may lag behind a
    /// registration made through another replica. Applied when found, so the next heartbeat needs no read.
    /// </summary>
    private async Task<ServiceInstance?> ReadAsync(string instanceId, CancellationToken cancellationToken)
    {
        var key = ByteString.CopyFromUtf8(EtcdKeys.Instance(instanceId));
        var range = await etcd.CallAsync((c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = key }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        if (range.Kvs.Count == 0 || Decode(range.Kvs[0]) is not { } instance)
        {
            return null;
        }
        registry.Apply(instance with { LeaseExpiresAt = time.GetUtcNow() + registry.Options.LeaseTtl });
        return registry.Find(instanceId);
    }

    private static RequestOp Put(ServiceInstance instance) => new()
    {
        RequestPut = new PutRequest
        {
            Key = ByteString.CopyFromUtf8(EtcdKeys.Instance(instance.InstanceId)),
            Value = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(instance, MeshJson.Options)),
        },
    };

    /// <summary>A transaction whose writes hold only while the instance is registered (its key exists).</summary>
    private static TxnRequest IfPresent(string instanceId) => new()
    {
        Compare = { new Compare { Key = ByteString.CopyFromUtf8(EtcdKeys.Instance(instanceId)), Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Greater, Version = 0 } },
    };

    private Task<TxnResponse> TxnAsync(TxnRequest txn, CancellationToken cancellationToken) =>
        etcd.CallAsync((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync, cancellationToken);

    /// <summary>Rewrites a registered instance; false when it is no longer registered (never brings one back).</summary>
    private async Task<bool> PutIfPresentAsync(ServiceInstance instance, CancellationToken cancellationToken)
    {
        var txn = IfPresent(instance.InstanceId);
        txn.Success.Add(Put(instance));
        var written = await TxnAsync(txn, cancellationToken).ConfigureAwait(false);
        if (written.Succeeded)
        {
            await WaitAppliedAsync(written.Header.Revision, cancellationToken).ConfigureAwait(false);
        }
        return written.Succeeded;
    }

    /// <summary>
    /// Puts a registered instance's live key on this replica's session: its sidecar heartbeats through this
    /// replica now (it moved here from another, or its live key ran out while no replica could renew it).
    /// Writes the instance too when its health changed. False when it was removed first, and the sidecar
    /// registers again.
    /// </summary>
    private async Task<bool> AdoptAsync(ServiceInstance instance, bool changed, CancellationToken cancellationToken)
    {
        var lapsed = !_live.HasLiveKey(instance.InstanceId);
        var session = await _live.SessionAsync(cancellationToken).ConfigureAwait(false);
        var txn = IfPresent(instance.InstanceId);
        if (changed)
        {
            txn.Success.Add(Put(instance));
        }
        txn.Success.Add(_live.PutLive(instance.InstanceId, session));
        var written = await TxnAsync(txn, cancellationToken).ConfigureAwait(false);
        if (!written.Succeeded)
        {
            return false;
        }
        _live.Adopted(instance.InstanceId, session);
        if (lapsed)
        {
            Log.EtcdLeaseReattached(logger, instance.InstanceId);
        }
        if (changed)
        {
            await WaitAppliedAsync(written.Header.Revision, cancellationToken).ConfigureAwait(false);
        }
        return true;
    }

    private void Advance(long revision)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            if (revision > _revision)
            {
                Volatile.Write(ref _revision, revision);
            }
            signal = _advanced;
            _advanced = NewSignal();
        }
        signal.TrySetResult();
    }

    /// <summary>Waits until the watch has applied <paramref name="revision"/> (a write of this replica's),
    /// so the registry it serves from already holds it; gives up quietly after a while: the write is in etcd.</summary>
    private async Task WaitAppliedAsync(long revision, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (Revision < revision)
        {
            Task advanced;
            lock (_gate)
            {
                advanced = _advanced.Task;
            }
            if (Revision >= revision)
            {
                return;
            }
            var left = ReadYourWriteTimeout - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return;
            }
            try
            {
                await advanced.WaitAsync(left, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
