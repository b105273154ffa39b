using Grpc.Core;
using Grpc.Net.Client;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// The token etcd gives an authenticated user, sent as the <c>token</c> metadata of every call (etcd's gRPC
/// convention). One token for every member: etcd agrees on it through raft. It is fetched on first use and
/// again when a member answers <c>Unauthenticated</c> (etcd's simple tokens lapse after
/// <c>--auth-token-ttl</c>, 5 minutes unused by default, and a restarted member forgets them).
/// </summary>
internal sealed class EtcdAuthToken(string user, Func<string> password, TimeProvider time)
{
    private const string AuthenticateMethod = "Authenticate";
    private readonly SemaphoreSlim _fetching = new(1, 1);
    private string? _token;

    public string User => user;

    /// <summary>The token in use now, or null before the first authentication.</summary>
    public string? Current => Volatile.Read(ref _token);

    /// <summary>Call credentials for one member's channel: add the token to every call but the authentication itself.</summary>
    public CallCredentials CredentialsFor(Func<GrpcChannel> channel) => CallCredentials.FromInterceptor(async (context, metadata) =>
    {
        if (context.MethodName != AuthenticateMethod)
        {
            metadata.Add("token", await GetAsync(channel(), context.CancellationToken).ConfigureAwait(false));
        }
    });

    /// <summary>Forgets <paramref name="stale"/> (a member refused it), so the next call authenticates again.</summary>
    public void Invalidate(string? stale)
    {
        if (stale is not null)
        {
            Interlocked.CompareExchange(ref _token, null, stale);
        }
    }

    /// <summary>Authenticates through <paramref name="channel"/> now (the start-up check: a wrong password is known before serving).</summary>
    public async Task<string> AuthenticateAsync(GrpcChannel channel, CallOptions options)
    {
        var response = await new Etcdserverpb.Auth.AuthClient(channel)
            .AuthenticateAsync(new Etcdserverpb.AuthenticateRequest { Name = user, Password = password() }, options).ResponseAsync.ConfigureAwait(false);
        Volatile.Write(ref _token, response.Token);
        return response.Token;
    }

    private async Task<string> GetAsync(GrpcChannel channel, CancellationToken cancellationToken)
    {
        if (Current is { } token)
        {
            return token;
        }
        await _fetching.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return Current ?? await AuthenticateAsync(channel, new CallOptions(deadline: time.GetUtcNow().UtcDateTime + EtcdConnection.CallTimeout, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            _fetching.Release();
        }
    }
}
