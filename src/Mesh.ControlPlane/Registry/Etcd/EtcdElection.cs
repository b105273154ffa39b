using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// One office held by at most one replica at a time: a key created only if absent (a transaction on its
/// create revision) on an etcd lease the holder keeps alive. When the holder dies its lease runs out and the
/// key goes; the next replica to campaign takes it. A holder that cannot reach etcd steps down, since it
/// cannot tell whether its lease still holds. Work done once (the config-dir import, sweeping lapsed
/// leases) is elected this way, not locked by hand.
/// </summary>
internal sealed class EtcdElection(EtcdConnection etcd, string key, string candidate, TimeSpan ttl, TimeProvider time)
{
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(1);
    private long _lease;

    public string Candidate => candidate;

    public bool IsLeader => Volatile.Read(ref _lease) != 0;

    /// <summary>Creates the key on a new lease if nobody holds it; true when this candidate holds it now.</summary>
    public async Task<bool> CampaignAsync(CancellationToken cancellationToken)
    {
        var lease = await etcd.CallAsync((c, o) => new Lease.LeaseClient(c).LeaseGrantAsync(new LeaseGrantRequest { TTL = EtcdKeys.LeaseSeconds(ttl) }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        var office = ByteString.CopyFromUtf8(key);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = office, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = office, Value = ByteString.CopyFromUtf8(candidate), Lease = lease.ID } });
        var response = await etcd.CallAsync((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        if (!response.Succeeded)
        {
            _ = etcd.RevokeAsync(lease.ID);
            return false;
        }
        Volatile.Write(ref _lease, lease.ID);
        return true;
    }

    /// <summary>
    /// Campaigns every second until elected, runs <paramref name="lead"/> while this candidate holds the office
    /// (its token is cancelled when it no longer does), keeps the lease alive every third of its TTL, and says
    /// why the office was lost through <paramref name="lost"/>; then campaigns again, until the host stops.
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> lead, Action<string> lost, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!IsLeader && !await CampaignAsync(stoppingToken).ConfigureAwait(false))
                {
                    await Task.Delay(Retry, time, stoppingToken).ConfigureAwait(false);
                    continue;
                }
                lost(await HoldAsync(lead, stoppingToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                await Pause(stoppingToken).ConfigureAwait(false); // etcd unreachable (or worse) while campaigning
            }
        }
    }

    /// <summary>Gives the office up at once (the next candidate need not wait for the TTL); bounded, since etcd may be down.</summary>
    public async Task ResignAsync(CancellationToken cancellationToken)
    {
        var lease = Interlocked.Exchange(ref _lease, 0);
        if (lease != 0)
        {
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(TimeSpan.FromSeconds(2));
            await etcd.RevokeAsync(lease, bounded.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the leader's work while keeping the lease alive; returns why the office was lost.</summary>
    private async Task<string> HoldAsync(Func<CancellationToken, Task> lead, CancellationToken stoppingToken)
    {
        using var leading = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var work = Task.Run(() => lead(leading.Token), CancellationToken.None);
        string reason;
        try
        {
            while (true)
            {
                await Task.WhenAny(work, Task.Delay(ttl / 3, time, stoppingToken)).ConfigureAwait(false);
                stoppingToken.ThrowIfCancellationRequested();
                if (work.IsCompleted)
                {
                    reason = work.Exception is { } failed ? $"its work failed: {failed.GetBaseException().Message}" : "its work ended";
                    break;
                }
                try
                {
                    if (await etcd.KeepAliveAsync(Volatile.Read(ref _lease), stoppingToken).ConfigureAwait(false) <= 0)
                    {
                        reason = "its etcd lease expired";
                        break;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // Whatever failed, this replica cannot tell whether its lease still holds (another may lead by
                    // now): it steps down and campaigns again, and never takes the host down with it.
                    reason = e.Message;
                    break;
                }
            }
        }
        finally
        {
            await leading.CancelAsync().ConfigureAwait(false);
            try
            {
                await work.ConfigureAwait(false);
            }
            catch (Exception) when (leading.IsCancellationRequested)
            {
                // The work's own failure is the reason given; cancellation is how it was stopped.
            }
        }
        Volatile.Write(ref _lease, 0);
        return reason;
    }

    private async Task Pause(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(Retry, time, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
