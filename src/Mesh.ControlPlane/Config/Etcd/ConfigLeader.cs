using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Registry.Etcd;

namespace Mesh.ControlPlane.Config.Etcd;

/// <summary>
/// Elects the one replica that imports its <c>--config-dir</c> into etcd: it holds
/// <c>/mesh/config/leader</c> on an etcd lease of <see cref="LeaseTtl"/> that it keeps alive, created
/// only if absent (a transaction on the key's create revision). The others try again every second; when the
/// leader dies, its lease runs out and the next replica to try takes over and imports its own directory.
/// Work done once is elected this way, not locked by hand.
/// </summary>
internal sealed class ConfigLeader(EtcdConnection etcd, EtcdConfigSource source, ConfigStore store, ControlPlaneOptions options, TimeProvider time, ILogger<ConfigLeader> logger)
    : BackgroundService
{
    public const string LeaderKey = EtcdConfigSource.Prefix + "leader";
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(1);

    private readonly string _me = $"{Environment.MachineName}:{options.Port} (pid {Environment.ProcessId})";
    private long _lease;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!source.IsLeader && await CampaignAsync(stoppingToken).ConfigureAwait(false))
                {
                    source.IsLeader = true;
                    Log.ConfigLeaderElected(logger, _me, options.ConfigDir);
                    store.Reload();
                }
                else if (source.IsLeader && await etcd.KeepAliveAsync(_lease, stoppingToken).ConfigureAwait(false) <= 0)
                {
                    Resign("its etcd lease expired");
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is RpcException or EtcdUnavailableException)
            {
                if (source.IsLeader)
                {
                    Resign(e.Message); // cannot tell whether the lease still holds: another replica may lead by now
                }
            }
            try
            {
                await Task.Delay(source.IsLeader ? LeaseTtl / 3 : Retry, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>One campaign before the first config load, so the first replica up imports its directory at once.</summary>
    public void TryLeadAtStart()
    {
        try
        {
            if (CampaignAsync(CancellationToken.None).GetAwaiter().GetResult())
            {
                source.IsLeader = true;
                Log.ConfigLeaderElected(logger, _me, options.ConfigDir);
            }
        }
        catch (Exception e) when (e is RpcException or EtcdUnavailableException)
        {
            // The loop tries again every second.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (source.IsLeader)
        {
            // The next replica takes over at once, not after the TTL; with etcd down, stopping does not wait on it.
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(TimeSpan.FromSeconds(2));
            await etcd.RevokeAsync(_lease, bounded.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Creates the leader key on a new lease if no replica holds it; true when this replica does now.</summary>
    private async Task<bool> CampaignAsync(CancellationToken cancellationToken)
    {
        var lease = await etcd.CallAsync((c, o) => new Lease.LeaseClient(c).LeaseGrantAsync(new LeaseGrantRequest { TTL = EtcdKeys.LeaseSeconds(LeaseTtl) }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        var key = ByteString.CopyFromUtf8(LeaderKey);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(_me), Lease = lease.ID } });
        var response = await etcd.CallAsync((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        if (!response.Succeeded)
        {
            _ = etcd.RevokeAsync(lease.ID);
            return false;
        }
        _lease = lease.ID;
        return true;
    }

    private void Resign(string reason)
    {
        source.IsLeader = false;
        Log.ConfigLeaderLost(logger, _me, reason);
        store.Reload();
    }
}
