using Mesh.Core.Routing;
using Mesh.Sidecar.Transport;
using Yarp.ReverseProxy;

namespace Mesh.Sidecar.Outbound;

/// <summary>
/// VirtualService <c>mirror</c>: sends a copy of the request to another cluster, fire and forget, and
/// drops its answer, as Envoy's shadowing does (the copy's Host gets a "-shadow" suffix). A body is
/// copied only when it is small and of known length; a larger or streamed body is not mirrored, so
/// the real request is never held back or read twice.
/// </summary>
internal sealed partial class MirrorSender : IDisposable
{
    public const int MaxBodyBytes = 64 * 1024;
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);
    private static readonly HashSet<string> SkippedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Upgrade", "Proxy-Connection", "Proxy-Authorization", "Content-Length",
    };

    private readonly IProxyStateLookup _lookup;
    private readonly ILogger<MirrorSender> _logger;
    private readonly MeshTransport _transport;
    // One client per tls mode and server identity: the TLS settings (and the identity checked) differ.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string?, string?), HttpMessageInvoker> _clients = new();

    public MirrorSender(IProxyStateLookup lookup, MeshTransport transport, ILogger<MirrorSender> logger)
    {
        _lookup = lookup;
        _logger = logger;
        _transport = transport;
    }

    private HttpMessageInvoker Client(IReadOnlyDictionary<string, string>? metadata) =>
        _clients.GetOrAdd((metadata?.GetValueOrDefault(MeshTransport.TlsKey), metadata?.GetValueOrDefault(MeshTransport.IdentityKey)), _ =>
        {
            var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            ConnectTimeout = MeshForwarderHttpClientFactory.ConnectTimeout,
            ActivityHeadersPropagator = null,
            };
            _transport.ConfigureHandler(handler, metadata);
            return new HttpMessageInvoker(handler);
        });

    /// <summary>Starts the copy if the cluster has an endpoint and the body can be copied; never waits for the answer.</summary>
    public async ValueTask<bool> TryMirrorAsync(HttpContext context, MirrorAction mirror)
    {
        if (!_lookup.TryGetCluster(mirror.ClusterId, out var cluster)
            || cluster.DestinationsState.AvailableDestinations is not { Count: > 0 } destinations)
        {
            return false;
        }
        var request = context.Request;
        byte[]? body = null;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            if (request.ContentLength is not { } length || length > MaxBodyBytes)
            {
                return false;
            }
            request.EnableBuffering();
            body = new byte[length];
            await request.Body.ReadExactlyAsync(body, context.RequestAborted);
            request.Body.Position = 0;
        }
        var destination = destinations[Random.Shared.Next(destinations.Count)];
        var message = new HttpRequestMessage(new HttpMethod(request.Method),
            destination.Model.Config.Address.TrimEnd('/') + request.Path.Value + request.QueryString.Value)
        {
            Version = cluster.Model.Config.HttpRequest?.Version ?? System.Net.HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        if (body is not null)
        {
            message.Content = new ByteArrayContent(body);
        }
        foreach (var (name, values) in request.Headers)
        {
            if (!SkippedHeaders.Contains(name) && !message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                message.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }
        message.Headers.Host = HostName.StripPort(request.Host.Value ?? mirror.Host) + "-shadow";
        _ = SendAsync(Client(cluster.Model.Config.Metadata), message, mirror.Host);
        return true;
    }

    private async Task SendAsync(HttpMessageInvoker client, HttpRequestMessage message, string host)
    {
        try
        {
            using var timeout = new CancellationTokenSource(SendTimeout);
            using var response = await client.SendAsync(message, timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            MirrorFailed(_logger, host, e.Message);
        }
        finally
        {
            message.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }
    }

    [LoggerMessage(40, LogLevel.Debug, "Mirrored request to {Host} failed (its answer is dropped anyway): {Reason}")]
    private static partial void MirrorFailed(ILogger logger, string host, string reason);
}
