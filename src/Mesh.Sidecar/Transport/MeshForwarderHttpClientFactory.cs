using Mesh.Sidecar.Telemetry;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Sidecar.Transport;

/// <summary>YARP's connection handlers for sidecar-to-sidecar calls, with the transport's settings.</summary>
internal sealed class MeshForwarderHttpClientFactory(MeshTransport transport, Mesh.Sidecar.Hosting.BenchmarkSwitches switches, Peering.RemoteLatency latency) : ForwarderHttpClientFactory
{
    /// <summary>A refused or unreachable peer must fail fast (502), never hang the caller.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = ConnectTimeout;
        handler.ActivityHeadersPropagator = null; // UpstreamAttemptHandler sets the trace context

        transport.ConfigureHandler(handler, context.NewMetadata);
    }

    /// <summary>A change of tls mode, identity or TLS files (every <c>mesh.*</c> key) needs a handler with other TLS settings.</summary>
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) =>
        base.CanReuseOldClient(context) && TlsKeys(context.OldMetadata).SequenceEqual(TlsKeys(context.NewMetadata));

    private static IEnumerable<KeyValuePair<string, string>> TlsKeys(IReadOnlyDictionary<string, string>? metadata) =>
        (metadata ?? new Dictionary<string, string>()).Where(kv => kv.Key.StartsWith("mesh.", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal);

    /// <summary>Each attempt gets its client span (and carries its trace context) right above the connection.</summary>
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
    {
        handler = base.WrapHandler(context, handler);
        if (context.NewMetadata?.GetValueOrDefault(MeshTransport.TlsKey) is "ISTIO_MUTUAL" or "SIMPLE")
        {
            handler = new PlaintextEndpointHandler(handler);
        }
        // Only clusters with endpoints imported from other regions are timed: the rest pay nothing for it.
        if (context.NewMetadata?.ContainsKey(MeshTransport.TrustDomainsKey) == true)
        {
            handler = new Peering.RoundTripHandler(handler, latency);
        }
        return switches.Telemetry ? new UpstreamAttemptHandler(handler) : handler;
    }
}

/// <summary>
/// A mesh service's instances registered through a Consul or Eureka agent have no sidecar: their
/// destinations are <c>http://</c> and take HTTP/1.1 (the cluster's HTTP/2 is for sidecar peers, over TLS).
/// </summary>
internal sealed class PlaintextEndpointHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri!.Scheme == Uri.UriSchemeHttp)
        {
            request.Version = System.Net.HttpVersion.Version11;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
        }
        return base.SendAsync(request, cancellationToken);
    }
}
