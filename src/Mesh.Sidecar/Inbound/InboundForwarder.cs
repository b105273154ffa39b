using System.Diagnostics;
using System.Net;
using Mesh.Observability;
using Mesh.Sidecar.Telemetry;
using Mesh.Sidecar.Hosting;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Sidecar.Inbound;

/// <summary>Forwards calls that arrive on the inbound port to the local app on 127.0.0.1, streaming both ways.</summary>
internal sealed class InboundForwarder : IDisposable
{
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _client;
    private readonly string _app;
    private readonly string _service;
    private readonly ForwarderRequestConfig _request = new() { ActivityTimeout = TimeSpan.FromMinutes(2) };

    public InboundForwarder(IHttpForwarder forwarder, SidecarOptions options)
    {
        _forwarder = forwarder;
        _app = $"http://127.0.0.1:{options.AppPort}";
        _service = $"{options.Service}.{options.Namespace}";
        _client = new HttpMessageInvoker(new AppTraceContextHandler(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            ActivityHeadersPropagator = null,
        }));
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await _forwarder.SendAsync(context, _app, _client, _request, OriginalHostTransformer.Instance).ConfigureAwait(false);
        }
        finally
        {
            InboundTelemetry.Record(context, _service, started);
        }
    }

    public void Dispose() => _client.Dispose();

    /// <summary>The app sees this sidecar's inbound span as the parent of whatever it calls next.</summary>
    private sealed class AppTraceContextHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            TraceContext.Inject(request, Activity.Current);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>The app sees the Host its caller used ("reviews"), not 127.0.0.1.</summary>
    private sealed class OriginalHostTransformer : HttpTransformer
    {
        public static readonly OriginalHostTransformer Instance = new();

        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        }
    }
}
