using System.Net;
using System.Net.Sockets;
using Mesh.Core.Hosting;

namespace Mesh.Core.Failover;

/// <summary>
/// The servers a client may use for the same API (control-plane replicas, say), from a comma-separated
/// list of URLs. A host that is a DNS name counts once per address it resolves to, tried address by
/// address. Calls stick to the server that answered last (<see cref="Current"/>) and move on when it
/// fails; <see cref="FailoverHandler"/> does the moving.
/// </summary>
public sealed class ServerList
{
    /// <summary>The request option carrying the address a call must connect to (read by <see cref="ConnectAsync"/>).</summary>
    internal static readonly HttpRequestOptionsKey<IPAddress?> AddressKey = new("mesh.failover.address");

    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;
    private readonly SemaphoreSlim _resolving = new(1, 1);
    private volatile Server[]? _servers;
    private int _current;

    public ServerList(IReadOnlyList<Uri> urls, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null)
    {
        if (urls.Count == 0)
        {
            throw new ArgumentException("at least one URL", nameof(urls));
        }
        Urls = urls;
        _resolve = resolve ?? ((host, cancel) => Dns.GetHostAddressesAsync(host, cancel));
    }

    /// <summary>The URLs as given.</summary>
    public IReadOnlyList<Uri> Urls { get; }

    /// <summary>Raised when calls move from one server to another: (from, to, why).</summary>
    public event Action<Server, Server, string>? Moved;

    /// <summary>The server calls go to now (before the first call: the first URL).</summary>
    public Server Current => _servers is { } servers ? servers[Volatile.Read(ref _current) % servers.Length] : new Server(Urls[0], null);

    /// <summary>
    /// Parses "--flag url,url,..." strictly: every part must be an absolute URL with one of
    /// <paramref name="schemes"/> and no path, all with the same scheme; every bad part is named at once.
    /// </summary>
    public static IReadOnlyList<Uri> Parse(string flag, string text, params string[] schemes)
    {
        var urls = new List<Uri>();
        var errors = new List<string>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || !schemes.Contains(uri.Scheme) || uri.AbsolutePath != "/" || uri.Query.Length > 0)
            {
                errors.Add($"'{part}'");
                continue;
            }
            urls.Add(uri);
        }
        if (errors.Count > 0)
        {
            throw new UsageException($"--{flag} expects URLs like {schemes[0]}://127.0.0.1:15012 (several comma-separated), got {string.Join(", ", errors)}");
        }
        if (urls.Select(u => u.Scheme).Distinct().Count() > 1)
        {
            throw new UsageException($"--{flag} mixes {string.Join(" and ", urls.Select(u => u.Scheme).Distinct())} in '{text}'; give every server the same scheme");
        }
        var twice = urls.GroupBy(u => u.GetLeftPart(UriPartial.Authority)).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (twice.Count > 0)
        {
            throw new UsageException($"--{flag} names {string.Join(", ", twice)} more than once");
        }
        return urls;
    }

    /// <summary>Every server, names resolved on first use (and again by <see cref="Refresh"/>), starting from the current one.</summary>
    internal async Task<(Server[] Servers, int Start)> ServersAsync(CancellationToken cancellationToken)
    {
        if (_servers is not { } servers)
        {
            await _resolving.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                servers = _servers ??= await ExpandAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _resolving.Release();
            }
        }
        return (servers, Volatile.Read(ref _current) % servers.Length);
    }

    /// <summary>Every server failed one call: names are resolved again at the next call (their addresses may have changed).</summary>
    internal void Refresh() => _servers = null;

    /// <summary>A call to <paramref name="index"/> failed: the next call goes to the server after it, unless another call already moved on.</summary>
    internal void Failed(Server[] servers, int index, string reason)
    {
        var next = (index + 1) % servers.Length;
        if (servers.Length > 1 && ReferenceEquals(servers, _servers) && Interlocked.CompareExchange(ref _current, next, index) == index)
        {
            Moved?.Invoke(servers[index], servers[next], reason);
        }
    }

    /// <summary>A call to <paramref name="index"/> succeeded: calls stay there.</summary>
    internal void Succeeded(Server[] servers, int index)
    {
        if (ReferenceEquals(servers, _servers))
        {
            Volatile.Write(ref _current, index);
        }
    }

    /// <summary>
    /// A <see cref="SocketsHttpHandler.ConnectCallback"/> that connects to the address the call was given
    /// (a DNS name's n-th address), or resolves the name as usual when it was given none.
    /// </summary>
    public static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        context.InitialRequestMessage.Options.TryGetValue(AddressKey, out var address);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (address is null)
            {
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken).ConfigureAwait(false);
            }
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<Server[]> ExpandAsync(CancellationToken cancellationToken)
    {
        var servers = new List<Server>();
        foreach (var url in Urls)
        {
            if (url.HostNameType is not UriHostNameType.Dns)
            {
                servers.Add(new Server(url, null));
                continue;
            }
            IPAddress[] addresses;
            try
            {
                addresses = await _resolve(url.IdnHost, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                addresses = []; // unknown for now: connecting by name reports it, and the next round asks again
            }
            if (addresses.Length <= 1)
            {
                servers.Add(new Server(url, null));
                continue;
            }
            servers.AddRange(addresses.Distinct().Select(a => new Server(url, a)));
        }
        return [.. servers];
    }
}
