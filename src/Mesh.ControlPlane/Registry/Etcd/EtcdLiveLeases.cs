using System.Collections.Concurrent;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// This replica's share of the registry's liveness on etcd. The replica holds one etcd lease of the lease
/// TTL, its session, and keeps it alive itself; the live key of every instance that registers or heartbeats
/// through this replica is on that session. A heartbeat is then a write to this replica's memory, not a
/// call to etcd: etcd sees writes only when an instance registers, changes, moves to another replica or
/// expires (a per-instance lease made every heartbeat an etcd keep-alive, which etcd's leader answers only
/// once it has applied every write before it: under a registration burst heartbeats stalled behind it and
/// live leases ran out). This replica expires the instances it keeps alive, with mass-expiry protection
/// (<see cref="MassExpiryGuard"/>), deleting both keys in a transaction that holds only while the live key is
/// still on its session: an instance whose sidecar moved to another replica is not expired by the one it
/// left, and an expiry happens once. When a replica dies its session runs out and etcd deletes its live
/// keys; the elected <see cref="EtcdLeaseSweeper"/> gives those instances the restore grace, time for their
/// sidecars to heartbeat through another replica, which puts the live key on its own session.
/// </summary>
internal sealed class EtcdLiveLeases
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(250);
    // etcd refuses a transaction of more than 128 operations by default (--max-txn-ops).
    private const int MaxOpsPerTxn = 100;

    private readonly EtcdConnection _etcd;
    private readonly ServiceRegistry _registry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ByteString _replica;
    private readonly SemaphoreSlim _granting = new(1, 1);
    private readonly MassExpiryGuard _guard;
    // The lease each instance's live key is on, as this replica last saw or wrote it.
    private readonly ConcurrentDictionary<string, long> _liveLeaseOf = new(StringComparer.Ordinal);
    // The instances this replica keeps alive, with when each was last renewed through it.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _renewed = new(StringComparer.Ordinal);
    private long _session;
    private long _confirmedAt;

    public EtcdLiveLeases(EtcdConnection etcd, ServiceRegistry registry, string replica, TimeProvider time, ILogger logger)
    {
        (_etcd, _registry, _time, _logger) = (etcd, registry, time, logger);
        _replica = ByteString.CopyFromUtf8(replica);
        _guard = new MassExpiryGuard(registry.Options);
    }

    private TimeSpan Ttl => _registry.Options.LeaseTtl;

    /// <summary>The mass-expiry hold on the instances this replica keeps alive, or null.</summary>
    public LeaseHold? Hold { get; private set; }

    /// <summary>
    /// Whether etcd has confirmed this replica's session recently (within half the lease TTL). While it has
    /// not, the live keys of what this replica keeps alive may be running out in etcd, so heartbeats are
    /// refused (the sidecar moves to a replica that reaches etcd) and nothing is expired.
    /// </summary>
    public bool Confirmed =>
        Volatile.Read(ref _session) != 0 && _time.GetElapsedTime(Volatile.Read(ref _confirmedAt)) < Ttl / 2;

    /// <summary>Whether the instance's live key is on this replica's session.</summary>
    public bool KeepsAlive(string instanceId) =>
        Volatile.Read(ref _session) is var session and not 0 && _liveLeaseOf.TryGetValue(instanceId, out var lease) && lease == session;

    /// <summary>Whether any replica's session holds the instance's live key, as far as this replica knows.</summary>
    public bool HasLiveKey(string instanceId) => _liveLeaseOf.ContainsKey(instanceId);

    /// <summary>A live key seen in etcd (a watch event, or the start-up read).</summary>
    public void Observed(string instanceId, long lease) => _liveLeaseOf[instanceId] = lease;

    /// <summary>A live key left etcd (its session ran out, or the instance left).</summary>
    public void Gone(string instanceId) => _liveLeaseOf.TryRemove(instanceId, out _);

    /// <summary>A heartbeat through this replica for an instance it keeps alive.</summary>
    public void Renewed(string instanceId) => _renewed[instanceId] = _time.GetUtcNow();

    /// <summary>This replica wrote the instance's live key on <paramref name="session"/>: it keeps it alive from now on.</summary>
    public void Adopted(string instanceId, long session)
    {
        _liveLeaseOf[instanceId] = session;
        _renewed[instanceId] = _time.GetUtcNow();
    }

    /// <summary>The instance was deregistered through this replica.</summary>
    public void Forget(string instanceId)
    {
        _renewed.TryRemove(instanceId, out _);
        _liveLeaseOf.TryRemove(instanceId, out _);
    }

    /// <summary>The put of an instance's live key on <paramref name="session"/>, holding this replica's name (for operators reading etcd).</summary>
    public RequestOp PutLive(string instanceId, long session) =>
        new() { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(EtcdKeys.LiveKey(instanceId)), Value = _replica, Lease = session } };

    /// <summary>This replica's session, granted now when it has none (at start, or after it ran out).</summary>
    public async Task<long> SessionAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _session) is var session and not 0)
        {
            return session;
        }
        await _granting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _session) is var granted and not 0)
            {
                return granted;
            }
            var lease = await _etcd.CallAsync((c, o) => new Lease.LeaseClient(c).LeaseGrantAsync(new LeaseGrantRequest { TTL = EtcdKeys.LeaseSeconds(Ttl) }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _confirmedAt, _time.GetTimestamp());
            Volatile.Write(ref _session, lease.ID);
            Log.EtcdSessionGranted(_logger, lease.ID, Ttl);
            return lease.ID;
        }
        finally
        {
            _granting.Release();
        }
    }

    /// <summary>Keeps the session alive (three times per TTL) and expires what lapsed, until the host stops.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SweepInterval, _time);
        var lastKeepAlive = _time.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (_time.GetElapsedTime(lastKeepAlive) >= Ttl / 3)
                {
                    lastKeepAlive = _time.GetTimestamp();
                    await KeepSessionAsync(stoppingToken).ConfigureAwait(false);
                }
                await ExpireLapsedAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>On a clean stop the session is revoked: its live keys go at once and the sweeper's grace starts now, not a TTL later.</summary>
    public Task RevokeAsync(CancellationToken cancellationToken) =>
        Interlocked.Exchange(ref _session, 0) is var session and not 0 ? _etcd.RevokeAsync(session, cancellationToken) : Task.CompletedTask;

    private async Task KeepSessionAsync(CancellationToken cancellationToken)
    {
        var session = Volatile.Read(ref _session);
        if (session == 0)
        {
            return; // granted with the first registration
        }
        try
        {
            if (await _etcd.KeepAliveAsync(session, cancellationToken).ConfigureAwait(false) > 0)
            {
                Volatile.Write(ref _confirmedAt, _time.GetTimestamp());
                return;
            }
        }
        catch (Exception e) when (e is EtcdUnavailableException or RpcException)
        {
            Log.EtcdSessionUnconfirmed(_logger, session, e.Message);
            return; // etcd extends its leases when it elects a leader again: the session may well survive
        }
        // It ran out (this replica was cut off from etcd for longer than a TTL) and etcd deleted its live keys.
        // A new session, and the live keys of what this replica kept alive put on it at once, in a few
        // transactions: waiting for each instance's next heartbeat would be one write per instance.
        Interlocked.CompareExchange(ref _session, 0, session);
        var renewed = await SessionAsync(cancellationToken).ConfigureAwait(false);
        var cutoff = _time.GetUtcNow() - Ttl;
        var alive = _renewed.Where(r => r.Value > cutoff && _registry.Find(r.Key) is not null).Select(r => r.Key).ToList();
        Log.EtcdSessionLost(_logger, session, renewed, alive.Count);
        foreach (var chunk in alive.Chunk(MaxOpsPerTxn))
        {
            var txn = new TxnRequest();
            txn.Success.AddRange(chunk.Select(id => PutLive(id, renewed)));
            try
            {
                await _etcd.CallAsync((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
                foreach (var id in chunk)
                {
                    _liveLeaseOf[id] = renewed;
                }
            }
            catch (Exception e) when (e is EtcdUnavailableException or RpcException)
            {
                Log.RegistryWriteFailed(_logger, $"putting live keys on the new session: {e.Message}; their next heartbeats put them");
                return;
            }
        }
    }

    private async Task ExpireLapsedAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var lateAfter = MassExpiryGuard.LateAfter(_registry.Options);
        List<string>? lapsed = null;
        int late = 0, total = 0;
        foreach (var (id, at) in _renewed)
        {
            if (!KeepsAlive(id))
            {
                // Its live key moved to another replica's session (its sidecar heartbeats there now), or left.
                // Kept while this replica's own session is being replaced: its live keys come back on the new one.
                if (Volatile.Read(ref _session) != 0)
                {
                    _renewed.TryRemove(id, out _);
                }
                continue;
            }
            total++;
            if (at + Ttl <= now)
            {
                (lapsed ??= []).Add(id);
            }
            else if (at + lateAfter <= now)
            {
                late++;
            }
        }
        if (!Confirmed)
        {
            return; // heartbeats are being refused and an expiry could not be written: nothing is judged
        }
        var held = Hold;
        if (!_guard.MayExpire(now, lapsed?.Count ?? 0, late, total))
        {
            if (held is null && _guard.Hold is { } hold)
            {
                Log.LeaseExpiryHeld(_logger, hold.Lapsed + hold.Late + hold.RecentlyExpired, hold.Total, _registry.Options.MassExpiryThreshold, hold.RecentlyExpired, hold.Lapsed, _registry.Options.MassExpiryHold);
            }
            Hold = _guard.Hold;
            return;
        }
        Hold = null;
        if (held is not null)
        {
            Log.LeaseExpiryResumed(_logger, now - held.Since, lapsed?.Count ?? 0);
        }
        var session = Volatile.Read(ref _session);
        foreach (var id in lapsed ?? [])
        {
            await ExpireAsync(id, session, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Deletes the instance and its live key while the live key is still on this replica's session; logs the expiry when it did.</summary>
    private async Task ExpireAsync(string id, long session, CancellationToken cancellationToken)
    {
        if (_renewed.TryGetValue(id, out var renewed) && renewed + Ttl > _time.GetUtcNow())
        {
            return; // a heartbeat came since the sweep found it lapsed
        }
        var instance = _registry.Find(id);
        var live = ByteString.CopyFromUtf8(EtcdKeys.LiveKey(id));
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = live, Target = Compare.Types.CompareTarget.Lease, Result = Compare.Types.CompareResult.Equal, Lease = session });
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(EtcdKeys.Instance(id)) } });
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = live } });
        try
        {
            var response = await _etcd.CallAsync((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
            _renewed.TryRemove(id, out _);
            if (response.Succeeded && response.Responses[0].ResponseDeleteRange.Deleted > 0 && instance is not null)
            {
                Log.LeaseExpired(_logger, instance.InstanceId, instance.Service, instance.Namespace, instance.Address, instance.Port);
            }
        }
        catch (Exception e) when (e is RpcException or EtcdUnavailableException)
        {
            Log.RegistryWriteFailed(_logger, $"expiring {id}, whose lease lapsed: {e.Message}; trying again"); // still lapsed at the next sweep
        }
    }
}
