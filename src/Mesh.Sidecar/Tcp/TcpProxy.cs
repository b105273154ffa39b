using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Mesh.Core.Routing;
using Mesh.Core.Routing.Tcp;
using Mesh.Core.Security;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Telemetry;
using Microsoft.AspNetCore.Connections;

namespace Mesh.Sidecar.Tcp;

/// <summary>
/// The sidecar's TCP proxy. Outbound: a connection on a <c>--tcp-upstream</c> listener is routed by its host's
/// tcp rules (per connection: first matching rule, weighted destination, an endpoint), one on a
/// <c>--tls-upstream</c> listener by the SNI of its ClientHello (tls rules, ServiceEntry hosts); then bytes are
/// relayed. Inbound: a mutual-TLS connection whose ALPN names one of the app's TCP ports is authorized on the
/// caller's identity alone (as Istio judges TCP) and relayed to the app's port.
/// </summary>
internal sealed class TcpProxy(MeshState state, SidecarOptions options, TcpConnector connector, ILogger<TcpProxy> logger)
{
    private static readonly TimeSpan AppConnectTimeout = TimeSpan.FromSeconds(5);
    private readonly string _self = $"{options.Service}.{options.Namespace}";
    private Compiled _table = new(null, Empty);

    private sealed record Compiled(MeshState.Applied? From, TcpRouteTable Table);

    private static readonly TcpRouteTable Empty = TcpRouteTable.Build(Mesh.Core.Snapshots.MeshSnapshot.Empty, "default", new Dictionary<string, string>());

    /// <summary>The TCP table of the applied snapshot, compiled once per snapshot on first use (a race compiles it twice, harmlessly).</summary>
    private TcpRouteTable Table
    {
        get
        {
            var current = state.Current;
            var known = Volatile.Read(ref _table);
            if (ReferenceEquals(known.From, current) || current is null)
            {
                return known.Table;
            }
            var table = TcpRouteTable.Build(current.Snapshot, options.Namespace, options.Labels);
            Volatile.Write(ref _table, new Compiled(current, table));
            return table;
        }
    }

    public async Task OutboundAsync(ConnectionContext connection, TcpUpstream upstream)
    {
        var host = HostName.Canonical(upstream.Host, options.Namespace);
        var record = new TcpConnectionRecord("outbound", _self, host);
        var table = Table;
        if (table.Route(host, upstream.Port) is not { } rule)
        {
            Refuse(connection, record, "no-route-match", $"no tcp rule of {host}'s VirtualService matches port {upstream.Port}");
            return;
        }
        await ForwardAsync(connection, record, table, rule, upstream.Port).ConfigureAwait(false);
    }

    public async Task TlsOutboundAsync(ConnectionContext connection, TlsUpstream upstream)
    {
        ClientHello.Outcome outcome;
        string? sni;
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                (outcome, sni) = await ClientHello.PeekServerNameAsync(connection.Transport.Input, wait.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ConnectionResetException)
            {
                (outcome, sni) = (ClientHello.Outcome.Incomplete, null);
            }
        }
        var record = new TcpConnectionRecord("outbound", _self, sni ?? $"tls:{upstream.Port}");
        if (sni is null)
        {
            Refuse(connection, record, "no-sni", outcome switch
            {
                ClientHello.Outcome.NotTls => $"port {upstream.LocalPort} passes TLS through by SNI, and this connection did not start with a TLS ClientHello",
                ClientHello.Outcome.NoServerName => "the TLS ClientHello names no server (SNI), which is what routes it",
                _ => "no complete TLS ClientHello within 10 s",
            });
            return;
        }
        var table = Table;
        if (table.RouteTls(sni, upstream.Port) is not { } rule)
        {
            Refuse(connection, record, "unknown-host", $"no tls rule and no ServiceEntry with a TLS/HTTPS port {upstream.Port} matches SNI '{sni}'");
            return;
        }
        await ForwardAsync(connection, record, table, rule, upstream.Port).ConfigureAwait(false);
    }

    private async Task ForwardAsync(ConnectionContext connection, TcpConnectionRecord record, TcpRouteTable table, TcpRule rule, int port)
    {
        if (rule.Pick(Random.Shared.NextDouble()) is not { } target)
        {
            Refuse(connection, record, "no-route-match", $"{rule.Source} has no destination with weight above 0");
            return;
        }
        var cluster = table.Resolve(target, port);
        // Not ConnectionClosed: Kestrel fires it at the caller's FIN, and a caller may send and half-close before
        // the upstream connection is made (a request, then FIN, then the answer).
        var (upstream, failure) = await connector.ConnectAsync(cluster, CancellationToken.None).ConfigureAwait(false);
        if (upstream is null)
        {
            Refuse(connection, record, cluster.Endpoints.Count == 0 ? "no-healthy-endpoint" : "connect-failed", failure!);
            return;
        }
        record.Endpoint = $"{cluster.Id} {upstream.Endpoint.InstanceId} {upstream.Endpoint.Address}:{upstream.Endpoint.Port}";
        await using (upstream.Stream.ConfigureAwait(false))
        {
            var result = await TcpRelay.RunAsync(connection, upstream.Stream, upstream.ShutdownWrite).ConfigureAwait(false);
            record.Close(result.Outcome, result.Sent, result.Received, logger);
        }
    }

    /// <summary>A mutual-TLS connection on the inbound port whose ALPN named TCP port <paramref name="port"/> of the app.</summary>
    public async Task InboundAsync(ConnectionContext connection, SpiffeId? peer, int port)
    {
        var source = peer is null ? "unknown" : $"{peer.Service}.{peer.Namespace}";
        var record = new TcpConnectionRecord("inbound", source, _self);
        var app = options.AppTcpPorts.FirstOrDefault(p => p.Number == port);
        if (app is null)
        {
            Refuse(connection, record, "unknown-port", $"this instance serves no TCP port {port}");
            return;
        }
        var decision = state.InboundPolicy.AuthorizeConnection(peer);
        if (!decision.Allowed)
        {
            SidecarTelemetry.Denied.Add(1, new TagList { { "source", source }, { "destination", _self }, { "policy", decision.Policy ?? "no-allow-match" } });
            Refuse(connection, record, "denied", $"RBAC: {peer?.ToString() ?? "a caller without identity"}: {decision.Reason}");
            return;
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = new CancellationTokenSource(AppConnectTimeout);
            await socket.ConnectAsync(IPAddress.Loopback, app.AppPort, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            Refuse(connection, record, "connect-failed", $"the app's TCP port 127.0.0.1:{app.AppPort} does not answer ({ExceptionText.Describe(e)})");
            return;
        }
        record.Endpoint = $"127.0.0.1:{app.AppPort}";
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var result = await TcpRelay.RunAsync(connection, stream, () => { socket.Shutdown(SocketShutdown.Send); return ValueTask.CompletedTask; }).ConfigureAwait(false);
        record.Close(result.Outcome, result.Sent, result.Received, logger);
    }

    /// <summary>Closes the caller's connection without a byte (what a TCP client can be told), and says why in the log.</summary>
    private void Refuse(ConnectionContext connection, TcpConnectionRecord record, string outcome, string reason)
    {
        Log.TcpRefused(logger, record.Direction, record.Source, record.Destination, reason);
        record.Close(outcome, 0, 0, logger);
        connection.Abort(new ConnectionAbortedException(reason));
    }
}
