using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Mesh.Core.Config.Model;
using Mesh.Core.Security;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Http.Features;

namespace Mesh.Sidecar.Security;

/// <summary>The verified identity of the peer on this connection; absent on plaintext connections.</summary>
internal sealed class PeerIdentityFeature(SpiffeId peer)
{
    public SpiffeId Peer { get; } = peer;

    /// <summary>The calling workload as metrics label it, <c>service.namespace</c>: made once per connection, not per call.</summary>
    public string Workload { get; } = $"{peer.Service}.{peer.Namespace}";
}

/// <summary>
/// The inbound port's TLS. Kestrel terminates TLS (its HTTPS middleware, with a per-connection
/// callback so each handshake uses the newest workload certificate: TLS 1.3, ALPN h2 or http/1.1, a
/// client certificate that chains to the mesh root and carries a SPIFFE id of this trust domain).
/// In front of it, <see cref="Sniff"/> looks at each connection's first byte: anything but a TLS
/// handshake is plaintext, handed straight to the HTTP server when the workload's PeerAuthentication
/// is PERMISSIVE and refused when STRICT. Kestrel cannot serve TLS and plaintext on one port by itself.
/// </summary>
/// <remarks>
/// The same port carries the app's TCP ports: a caller sidecar offers ALPN <c>mesh-tcp/PORT</c> (and nothing
/// else), which this side accepts for each <c>--app-tcp-port</c>; such a connection goes to <see cref="Tcp.TcpProxy"/>
/// after the handshake instead of the HTTP server. One port, one certificate check, no new port to register.
/// </remarks>
internal sealed class InboundTls(WorkloadIdentity identity, MeshState state, TimeProvider time, BenchmarkSwitches switches, SidecarOptions options,
    Tcp.TcpProxy tcp, ILogger<InboundTls> logger)
{
    private const byte TlsHandshakeRecord = 0x16;
    private readonly List<SslApplicationProtocol> _alpn =
        [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11, .. options.AppTcpPorts.Select(p => new SslApplicationProtocol(Tcp.TcpConnector.AlpnPrefix + p.Number))];
    private ConnectionDelegate? _http;

    /// <summary>Wires the listener: sniffing, then Kestrel's TLS, then the peer's identity, then HTTP.</summary>
    public void Configure(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1AndHttp2;
        listen.Use(next => connection => Sniff(connection, next));
        listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = context => ValueTask.FromResult(ServerOptions(context.Connection)),
            HandshakeTimeout = TimeSpan.FromSeconds(10),
        });
        listen.Use(next =>
        {
            _http = next; // the HTTP server itself, for plaintext connections that skip TLS
            return connection =>
            {
                var peer = SpiffeId.FromCertificate(connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate);
                if (peer is not null)
                {
                    connection.Features.Set(new PeerIdentityFeature(peer));
                }
                if (TcpPort(connection) is { } port)
                {
                    return tcp.InboundAsync(connection, peer, port);
                }
                return next(connection);
            };
        });
    }

    /// <summary>The app's TCP port the caller named by ALPN, or null for HTTP.</summary>
    private static int? TcpPort(ConnectionContext connection)
    {
        var alpn = connection.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.ITlsApplicationProtocolFeature>()?.ApplicationProtocol ?? default;
        var prefix = Tcp.TcpConnector.AlpnPrefix.Length;
        if (alpn.Length <= prefix || alpn.Span[0] != (byte)'m' || !Encoding.ASCII.GetString(alpn.Span[..prefix]).Equals(Tcp.TcpConnector.AlpnPrefix, StringComparison.Ordinal))
        {
            return null;
        }
        return int.TryParse(alpn.Span[prefix..], out var port) ? port : null;
    }

    private async Task Sniff(ConnectionContext connection, ConnectionDelegate tls)
    {
        var input = connection.Transport.Input;
        ReadResult read;
        try
        {
            read = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ConnectionResetException)
        {
            return;
        }
        if (read.Buffer.IsEmpty)
        {
            input.AdvanceTo(read.Buffer.End);
            return;
        }
        var first = read.Buffer.FirstSpan[0];
        input.AdvanceTo(read.Buffer.Start, read.Buffer.Start); // only peeked: the handshake or HTTP parser reads it again
        if (first == TlsHandshakeRecord)
        {
            await tls(connection).ConfigureAwait(false);
            return;
        }
        var policy = state.InboundPolicy;
        if (policy.Mode == MutualTlsMode.Permissive && _http is { } http)
        {
            await http(connection).ConfigureAwait(false);
            return;
        }
        await RefusePlaintextAsync(connection, policy).ConfigureAwait(false);
    }

    private SslServerAuthenticationOptions ServerOptions(ConnectionContext connection)
    {
        var current = identity.Value;
        if (current is null)
        {
            Refuse(connection, "no-certificate-yet", "this sidecar has no workload certificate yet");
            throw new AuthenticationException("this sidecar has no workload certificate yet");
        }
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = current.Context,
            ClientCertificateRequired = true,
            EnabledSslProtocols = SslProtocols.Tls13,
            ApplicationProtocols = _alpn,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = !switches.Spiffe ? static (_, _, _, _) => true : (_, certificate, _, _) =>
            {
                var refusal = identity.CheckPeer(certificate, time.GetUtcNow(), out _);
                if (refusal is not null)
                {
                    Refuse(connection, Kind(refusal), refusal);
                }
                return refusal is null;
            },
        };
    }

    private async Task RefusePlaintextAsync(ConnectionContext connection, WorkloadPolicy policy)
    {
        var reason = $"plaintext connection refused: this workload takes mutual TLS only (STRICT, from {policy.ModeSource})";
        Refuse(connection, "plaintext", reason);
        // A plain HTTP client gets a readable answer rather than a bare reset.
        var body = reason + "\n";
        var response = $"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nx-mesh-error: mtls-required\r\nContent-Length: {Encoding.ASCII.GetByteCount(body)}\r\n\r\n{body}";
        try
        {
            await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(response), connection.ConnectionClosed).ConfigureAwait(false);
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ConnectionResetException)
        {
            // the caller is gone already
        }
    }

    private void Refuse(ConnectionContext connection, string kind, string reason)
    {
        SidecarTelemetry.InboundRefused.Add(1, new KeyValuePair<string, object?>("reason", kind));
        Log.InboundRefused(logger, connection.RemoteEndPoint?.ToString() ?? "?", reason);
    }

    private static string Kind(string refusal) => refusal switch
    {
        _ when refusal.StartsWith("no client certificate", StringComparison.Ordinal) => "no-client-certificate",
        _ when refusal.Contains("not valid now", StringComparison.Ordinal) => "expired",
        _ when refusal.Contains("does not chain", StringComparison.Ordinal) => "untrusted",
        _ => "bad-identity",
    };
}
