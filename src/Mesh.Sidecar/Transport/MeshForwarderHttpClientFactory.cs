using Mesh.Sidecar.Telemetry;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Sidecar.Transport;

/// <summary>YARP's connection handlers for sidecar-to-sidecar calls, with the transport's settings.</summary>
internal sealed class MeshForwarderHttpClientFactory(MeshTransport transport, Mesh.Sidecar.Hosting.BenchmarkSwitches switches) : ForwarderHttpClientFactory
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

    /// <summary>A change of tls mode needs a handler with other TLS settings.</summary>
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) =>
        base.CanReuseOldClient(context)
        && context.OldMetadata?.GetValueOrDefault(MeshTransport.TlsKey) == context.NewMetadata?.GetValueOrDefault(MeshTransport.TlsKey)
        && context.OldMetadata?.GetValueOrDefault(MeshTransport.IdentityKey) == context.NewMetadata?.GetValueOrDefault(MeshTransport.IdentityKey);

    /// <summary>Each attempt gets its client span (and carries its trace context) right above the connection.</summary>
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        switches.Telemetry ? new UpstreamAttemptHandler(base.WrapHandler(context, handler)) : base.WrapHandler(context, handler);
}
