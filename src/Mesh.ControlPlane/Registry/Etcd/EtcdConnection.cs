using Grpc.Core;
using Grpc.Net.Client;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// gRPC channels to every etcd member given with <c>--etcd-endpoints</c>. A call goes to the member that
/// answered last and moves on to the next when one is down or has no leader, for up to
/// <see cref="RetryBudget"/>: long enough to ride out an etcd leader election (about a second with etcd's
/// defaults), short enough that a sidecar's heartbeat gets a clear 503 instead of hanging.
/// </summary>
internal sealed class EtcdConnection : IDisposable
{
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan RetryBudget = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan RoundPause = TimeSpan.FromMilliseconds(200);

    /// <summary>etcd's reason for refusing a token it does not know (rpctypes.ErrInvalidAuthToken).</summary>
    private const string InvalidAuthToken = "invalid auth token";

    private readonly GrpcChannel[] _channels;
    private readonly TimeProvider _time;
    private readonly EtcdAuthToken? _auth;
    private readonly EtcdKeepAliveStream[] _keepAlives;
    private int _current;

    public EtcdConnection(IReadOnlyList<Uri> endpoints, TimeProvider time, EtcdClientSecurity? security = null)
    {
        if (endpoints.Count == 0)
        {
            throw new ArgumentException("at least one etcd endpoint", nameof(endpoints));
        }
        security ??= EtcdClientSecurity.None;
        Endpoints = endpoints;
        _time = time;
        _auth = security.User is { } user ? new EtcdAuthToken(user, security.ReadPassword, time) : null;
        var tls = EtcdTls.ClientOptions(security);
        _channels = new GrpcChannel[endpoints.Count];
        for (var i = 0; i < endpoints.Count; i++)
        {
            var index = i;
            var secure = endpoints[i].Scheme == Uri.UriSchemeHttps;
            _channels[i] = GrpcChannel.ForAddress(endpoints[i], new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    ConnectTimeout = TimeSpan.FromSeconds(1),
                    // A member gone without closing its sockets (host down, partition) is noticed by these pings,
                    // not only by the next call's timeout. Not more often than every 5 s: etcd's default
                    // --grpc-keepalive-min-time; pinging faster gets the connection closed (GOAWAY too_many_pings).
                    KeepAlivePingDelay = TimeSpan.FromSeconds(10),
                    KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                    EnableMultipleHttp2Connections = true,
                    SslOptions = tls,
                },
                Credentials = _auth is null ? null
                    : ChannelCredentials.Create(secure ? new SslCredentials() : ChannelCredentials.Insecure, _auth.CredentialsFor(() => _channels[index])),
                // etcd on http:// with auth on is etcd's own choice (a trusted network); the token then travels in clear, as etcdctl's does.
                UnsafeUseInsecureChannelCallCredentials = _auth is not null && !secure,
            });
        }
        _keepAlives = [.. _channels.Select(c => new EtcdKeepAliveStream(c, time))];
    }

    public IReadOnlyList<Uri> Endpoints { get; }

    /// <summary>The etcd user (<c>--etcd-user</c>), or null when etcd's auth is not used.</summary>
    public string? User => _auth?.User;

    /// <summary>The channel of the member that answered last, for long-lived streams (the watch).</summary>
    public GrpcChannel Current => _channels[Volatile.Read(ref _current) % _channels.Length];

    /// <summary>Moves on to the next member (a stream on the current one broke).</summary>
    public void Next() => Interlocked.Increment(ref _current);

    /// <summary>Runs a unary call against the members in turn until one answers or the budget is spent.</summary>
    public async Task<T> CallAsync<T>(Func<GrpcChannel, CallOptions, Task<T>> call, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        Exception? last = null;
        while (true)
        {
            for (var tried = 0; tried < _channels.Length; tried++)
            {
                var index = Volatile.Read(ref _current);
                var token = _auth?.Current;
                try
                {
                    var options = new CallOptions(deadline: _time.GetUtcNow().UtcDateTime + CallTimeout, cancellationToken: cancellationToken);
                    return await call(_channels[index % _channels.Length], options).ConfigureAwait(false);
                }
                // An IOException: a streaming call (a keep-alive) whose connection broke while writing to it.
                catch (Exception e) when ((e is RpcException rpc && IsTransient(rpc) || e is IOException) && !cancellationToken.IsCancellationRequested)
                {
                    last = e;
                    Interlocked.CompareExchange(ref _current, index + 1, index);
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unauthenticated && _auth is not null && token is not null && !cancellationToken.IsCancellationRequested)
                {
                    // The token lapsed or the member restarted and forgot it: authenticate again and retry.
                    last = e;
                    _auth.Invalidate(token);
                }
            }
            if (_time.GetElapsedTime(started) >= RetryBudget)
            {
                throw new EtcdUnavailableException(
                    $"etcd did not answer within {RetryBudget.TotalSeconds:0}s ({string.Join(", ", Endpoints)}): {(last as RpcException)?.Status.Detail ?? last?.Message ?? "no answer"}", last);
            }
            await Task.Delay(RoundPause, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs a watch stream until the host stops: when it breaks (its member died or lost its leader), says
    /// why through <paramref name="broken"/> and runs it again on the next member; the watch itself resumes
    /// from the revision it had applied.
    /// </summary>
    public async Task FollowAsync(Func<CancellationToken, Task> watch, Action<string> broken, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await watch(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is RpcException or IOException or EtcdUnavailableException or InvalidOperationException)
            {
                // etcd cancels a watch whose token it no longer knows (a member restarted) with this reason.
                if (e is RpcException { StatusCode: StatusCode.Unauthenticated } || e.Message.Contains(InvalidAuthToken, StringComparison.Ordinal))
                {
                    _auth?.Invalidate(_auth.Current);
                }
                broken(e.Message);
            }
            Next();
            try
            {
                await Task.Delay(RoundPause, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Authenticates as <see cref="User"/> now (nothing without one), through the members in turn.</summary>
    public Task AuthenticateAsync(CancellationToken cancellationToken) =>
        _auth is null ? Task.CompletedTask : CallAsync((c, o) => _auth.AuthenticateAsync(c, o), cancellationToken);

    /// <summary>One keep-alive of a lease; its remaining TTL in seconds, 0 or less when it has expired.</summary>
    public Task<long> KeepAliveAsync(long lease, CancellationToken cancellationToken) =>
        CallAsync((c, o) => _keepAlives[Array.IndexOf(_channels, c)].RenewAsync(lease, o), cancellationToken);

    /// <summary>Revokes a lease (its keys go at once), best effort: a lease left behind runs out by itself.</summary>
    public async Task RevokeAsync(long lease, CancellationToken cancellationToken = default)
    {
        try
        {
            await CallAsync((c, o) => new Etcdserverpb.Lease.LeaseClient(c).LeaseRevokeAsync(new Etcdserverpb.LeaseRevokeRequest { ID = lease }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or EtcdUnavailableException or OperationCanceledException)
        {
        }
    }

    /// <summary>Errors another member (or the same one after an election) may not give.</summary>
    public static bool IsTransient(RpcException e) =>
        e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown or StatusCode.Aborted;

    public void Dispose()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }
}
