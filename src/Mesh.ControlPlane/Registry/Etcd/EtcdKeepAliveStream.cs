using System.Collections.Concurrent;
using Etcdserverpb;
using Grpc.Core;
using Grpc.Net.Client;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// One long-lived LeaseKeepAlive stream to one member, shared by every lease this replica renews through it
/// (as etcd's own client does): a heartbeat is one message each way on an open stream instead of a new
/// HTTP/2 stream, a new server-side stream and its teardown. etcd answers each request with the lease's id
/// and remaining TTL, so answers are matched to waiting renewals by id; renewals of the same lease while one
/// is in flight share its answer. When the stream breaks, every waiting renewal fails as Unavailable (the
/// connection's retry moves it to the next member) and the next renewal opens a new stream.
/// </summary>
internal sealed class EtcdKeepAliveStream(GrpcChannel channel, TimeProvider time)
{
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly object _gate = new();
    private ConcurrentDictionary<long, TaskCompletionSource<long>>? _pending;
    private AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? _call;

    /// <summary>Renews <paramref name="lease"/>; its remaining TTL in seconds, 0 or less when it has expired.</summary>
    public async Task<long> RenewAsync(long lease, CallOptions options)
    {
        var (call, pending) = Open();
        var waiter = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var shared = pending.GetOrAdd(lease, waiter);
        if (!IsCurrent(call))
        {
            // The stream broke before this renewal was registered on it: nobody would fail it.
            throw new RpcException(new Status(StatusCode.Unavailable, "keep-alive stream broke"));
        }
        if (shared == waiter)
        {
            await _writing.WaitAsync(options.CancellationToken).ConfigureAwait(false);
            try
            {
                await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease }, options.CancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or IOException or InvalidOperationException)
            {
                Broken(call, e);
            }
            finally
            {
                _writing.Release();
            }
        }
        var timeout = options.Deadline is { } deadline ? deadline - time.GetUtcNow().UtcDateTime : EtcdConnection.CallTimeout;
        try
        {
            return await shared.Task.WaitAsync(timeout > TimeSpan.Zero ? timeout : TimeSpan.Zero, time, options.CancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // No answer in time: the member is slow or gone; this stream is not trusted any more.
            Broken(call, new RpcException(new Status(StatusCode.DeadlineExceeded, "no keep-alive answer in time")));
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"keep-alive of lease {lease} got no answer in time"));
        }
    }

    private (AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> Call, ConcurrentDictionary<long, TaskCompletionSource<long>> Pending) Open()
    {
        AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call;
        ConcurrentDictionary<long, TaskCompletionSource<long>> pending;
        lock (_gate)
        {
            if (_call is not null && _pending is not null)
            {
                return (_call, _pending);
            }
            (call, pending) = (new Lease.LeaseClient(channel).LeaseKeepAlive(), new ConcurrentDictionary<long, TaskCompletionSource<long>>());
            (_call, _pending) = (call, pending);
        }
        // Outside the lock and off this thread: a stream that fails at once (the member refuses the
        // connection) is forgotten by Broken while this renewal still holds it, not under its feet.
        _ = Task.Run(() => ReadAsync(call, pending));
        return (call, pending);
    }

    private bool IsCurrent(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call)
    {
        lock (_gate)
        {
            return _call == call;
        }
    }

    private async Task ReadAsync(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call, ConcurrentDictionary<long, TaskCompletionSource<long>> pending)
    {
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                var answer = call.ResponseStream.Current;
                if (pending.TryRemove(answer.ID, out var waiter))
                {
                    waiter.TrySetResult(answer.TTL);
                }
            }
            Broken(call, new RpcException(new Status(StatusCode.Unavailable, "keep-alive stream closed by etcd")));
        }
        catch (Exception e)
        {
            Broken(call, e);
        }
    }

    /// <summary>Fails every renewal waiting on <paramref name="call"/> (once) and forgets the stream, so the next renewal opens another.</summary>
    private void Broken(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call, Exception why)
    {
        ConcurrentDictionary<long, TaskCompletionSource<long>>? pending;
        lock (_gate)
        {
            if (_call != call)
            {
                return;
            }
            pending = _pending;
            _call = null;
            _pending = null;
        }
        var failure = why as RpcException ?? new RpcException(new Status(StatusCode.Unavailable, $"keep-alive stream broke: {why.Message}"));
        foreach (var waiter in pending!.Values)
        {
            waiter.TrySetException(failure);
        }
        call.Dispose();
    }
}
