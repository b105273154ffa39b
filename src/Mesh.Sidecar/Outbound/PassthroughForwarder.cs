using System.Net;
using Mesh.Sidecar.Hosting;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Sidecar.Outbound;

/// <summary>
/// ALLOW_ANY's passthrough (Istio's PassthroughCluster): a call to a host nothing in the mesh defines goes to
/// that host as the app named it, over plain HTTP, with no mutual TLS and no mesh policy. It is only as open
/// as the app already is: the outbound port listens on 127.0.0.1, so only local apps reach it, and they could
/// call the host themselves. A call that comes back through a passthrough (a host naming this proxy itself)
/// is refused, so a loop ends at once.
/// </summary>
internal sealed class PassthroughForwarder(IHttpForwarder forwarder, ILogger<PassthroughForwarder> logger) : IDisposable
{
    public const string LoopHeader = "x-mesh-passthrough";

    private readonly HttpMessageInvoker _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    });

    private readonly ForwarderRequestConfig _request = new() { ActivityTimeout = TimeSpan.FromMinutes(2) };

    public async Task ForwardAsync(HttpContext context)
    {
        var target = context.Request.Host.Value!;
        if (context.Request.Headers.ContainsKey(LoopHeader))
        {
            await MeshResponses.WriteAsync(context, StatusCodes.Status508LoopDetected, "passthrough-loop",
                $"mesh: passthrough to '{target}' came back to this sidecar; the host names the mesh proxy itself.").ConfigureAwait(false);
            return;
        }
        context.Request.Headers[LoopHeader] = "1";
        var error = await forwarder.SendAsync(context, $"http://{target}", _client, _request, PassthroughTransformer.Instance).ConfigureAwait(false);
        if (error != ForwarderError.None)
        {
            var reason = context.Features.Get<IForwarderErrorFeature>()?.Exception?.Message ?? error.ToString();
            Log.PassthroughFailed(logger, target, reason);
            if (!context.Response.HasStarted)
            {
                await MeshResponses.WriteAsync(context, StatusCodes.Status502BadGateway, "passthrough-failed",
                    $"mesh: passthrough (ALLOW_ANY) to '{target}' failed: {reason}").ConfigureAwait(false);
            }
        }
    }

    public void Dispose() => _client.Dispose();

    /// <summary>The host sees the Host the app named.</summary>
    private sealed class PassthroughTransformer : HttpTransformer
    {
        public static readonly PassthroughTransformer Instance = new();

        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        }
    }
}
