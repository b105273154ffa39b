using System.Diagnostics;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using System.Net;
using Mesh.Core.Config.Model;
using Mesh.Core.Security;
using Mesh.Observability;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Security;
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

    private readonly MeshState _state;
    private readonly ILogger<InboundForwarder> _logger;

    public InboundForwarder(IHttpForwarder forwarder, SidecarOptions options, MeshState state, ILogger<InboundForwarder> logger)
    {
        _forwarder = forwarder;
        _state = state;
        _logger = logger;
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
        var span = ServerSpan.Start(SidecarTelemetry.Source, context, "inbound");
        try
        {
            if (!await AuthorizeAsync(context).ConfigureAwait(false))
            {
                return;
            }
            if (context.Features.Get<PeerIdentityFeature>() is not null && context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
            {
                // A peer sidecar forwards its caller's body at the caller's pace, and the caller's sidecar
                // already holds that to the minimum rate (ListenerLimits): a second clock here would cut the
                // same slow caller a moment later, as a reset that blames this endpoint.
                rate.MinDataRate = null;
            }
            await _forwarder.SendAsync(context, _app, _client, _request, OriginalHostTransformer.Instance).ConfigureAwait(false);
        }
        finally
        {
            InboundTelemetry.Record(context, _service, started, span);
        }
    }

    /// <summary>The benchmark's "inbound" switch off: forwarding to the app and nothing else, the price list's floor for this path.</summary>
    public Task ForwardOnlyAsync(HttpContext context) =>
        _forwarder.SendAsync(context, _app, _client, _request, OriginalHostTransformer.Instance).AsTask();

    /// <summary>
    /// Applies the workload's PeerAuthentication (a plaintext request on a connection accepted while the
    /// mode was PERMISSIVE is refused once it is STRICT) and AuthorizationPolicy; false when it answered 403.
    /// </summary>
    private async ValueTask<bool> AuthorizeAsync(HttpContext context)
    {
        var policy = _state.InboundPolicy;
        var peer = context.Features.Get<PeerIdentityFeature>()?.Peer;
        if (peer is null && policy.Mode == MutualTlsMode.Strict)
        {
            await DenyAsync(context, null, $"mutual TLS required (STRICT, from {policy.ModeSource})", "peer-authentication").ConfigureAwait(false);
            return false;
        }
        if (policy.AuthorizationPolicyCount == 0)
        {
            return true;
        }
        var decision = policy.Authorize(new InboundRequest(peer, context.Request.Method, context.Request.Path.Value ?? "/", context.Request.Host.Value ?? ""));
        if (!decision.Allowed)
        {
            await DenyAsync(context, peer, decision.Reason, decision.Policy ?? "no-allow-match").ConfigureAwait(false);
        }
        return decision.Allowed;
    }

    private Task DenyAsync(HttpContext context, SpiffeId? peer, string reason, string policy)
    {
        SidecarTelemetry.Denied.Add(1, new TagList { { "source", InboundTelemetry.Source(context) }, { "destination", _service }, { "policy", policy } });
        Log.Denied(_logger, context.Request.Method, context.Request.Path.Value ?? "/", peer?.ToString() ?? "a plaintext caller", reason);
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        context.Response.Headers["x-mesh-error"] = "rbac-denied";
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync($"RBAC: access denied: {reason}\n", context.RequestAborted);
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
