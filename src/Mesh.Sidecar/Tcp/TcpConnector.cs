using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Resilience;
using Mesh.Core.Routing.Tcp;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Security;

namespace Mesh.Sidecar.Tcp;

/// <summary>An upstream connection made for one caller connection, with how to end its write side alone.</summary>
internal sealed record TcpUpstreamConnection(Stream Stream, TcpEndpoint Endpoint, Func<ValueTask> ShutdownWrite);

/// <summary>
/// Connects to one endpoint of a cluster: healthy endpoints from a random start, the next one when a connect
/// fails or times out (the cluster's connectionPool.tcp.connectTimeout), at most <see cref="MaxAttempts"/>.
/// A mesh endpoint is its sidecar's inbound port over TLS 1.3 with this sidecar's workload certificate; the
/// server must prove the destination service's SPIFFE id, and ALPN <c>mesh-tcp/PORT</c> says which TCP port
/// of the app the bytes are for. A ServiceEntry endpoint is a plain TCP connection.
/// An endpoint that cannot be reached leaves this caller's set at once, as for HTTP (the same
/// <see cref="LocalOriginDetector"/>: backoff from 1 s, one probing connection when it ends); when every
/// endpoint is out, the ejected ones are tried anyway rather than refusing the connection.
/// </summary>
internal sealed class TcpConnector(WorkloadIdentity identity, TimeProvider time, ILogger<TcpConnector> logger)
{
    public const int MaxAttempts = 3;
    public const string AlpnPrefix = "mesh-tcp/";

    private readonly ConcurrentDictionary<string, LocalOriginDetector> _unreachable = new(StringComparer.Ordinal);

    /// <summary>Endpoints in the order to try: a due probe first, then the ones in the set from a random start, then the ejected.</summary>
    private static List<TcpEndpoint> Order(IReadOnlyList<TcpEndpoint> endpoints, LocalOriginDetector detector)
    {
        var start = Random.Shared.Next(endpoints.Count);
        var rotated = Enumerable.Range(0, endpoints.Count).Select(i => endpoints[(start + i) % endpoints.Count]).ToList();
        if (!detector.Any)
        {
            return rotated;
        }
        var probe = detector.TryClaimProbe(rotated, e => e.InstanceId);
        return rotated.OrderBy(e => e.InstanceId == probe ? 0 : detector.IsEjected(e.InstanceId) ? 2 : 1).ToList();
    }

    public async Task<(TcpUpstreamConnection? Connection, string? Failure)> ConnectAsync(TcpCluster cluster, CancellationToken cancellationToken)
    {
        var endpoints = cluster.Endpoints;
        if (endpoints.Count == 0)
        {
            return (null, $"no healthy endpoint of {cluster.Id} serves TCP port {cluster.Port}");
        }
        var detector = _unreachable.GetOrAdd(cluster.Id, _ => new LocalOriginDetector(time));
        var order = Order(endpoints, detector);
        var attempts = Math.Min(endpoints.Count, MaxAttempts);
        string? failure = null;
        for (var i = 0; i < attempts; i++)
        {
            var endpoint = order[i];
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(cluster.ConnectTimeout);
            try
            {
                await socket.ConnectAsync(endpoint.Address, endpoint.Port, timeout.Token).ConfigureAwait(false);
                var stream = new NetworkStream(socket, ownsSocket: true);
                if (!endpoint.ViaSidecar)
                {
                    detector.Record(endpoint.InstanceId, unreachable: false);
                    return (new TcpUpstreamConnection(stream, endpoint, () => { socket.Shutdown(SocketShutdown.Send); return ValueTask.CompletedTask; }), null);
                }
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                await tls.AuthenticateAsClientAsync(ClientOptions(cluster, endpoint), timeout.Token).ConfigureAwait(false);
                if (tls.NegotiatedApplicationProtocol.ToString() != AlpnPrefix + endpoint.ServicePort)
                {
                    await tls.DisposeAsync().ConfigureAwait(false);
                    throw new IOException($"its sidecar does not serve TCP port {endpoint.ServicePort} (no --app-tcp-port {endpoint.ServicePort}=...)");
                }
                detector.Record(endpoint.InstanceId, unreachable: false);
                // TLS 1.3 close_notify ends this direction only; the peer's answer still arrives.
                return (new TcpUpstreamConnection(tls, endpoint, () => new ValueTask(tls.ShutdownAsync())), null);
            }
            // Any failure to connect (refused, timed out, handshake, a name that does not resolve) moves on.
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                if (detector.Record(endpoint.InstanceId, unreachable: true))
                {
                    Telemetry.SidecarTelemetry.Ejections.Add(1, new TagList { { "destination", cluster.Host }, { "reason", "local-origin" } });
                }
                failure = e is OperationCanceledException ? $"no connection within {cluster.ConnectTimeout.TotalMilliseconds:F0} ms" : ExceptionText.Describe(e);
                Log.TcpConnectFailed(logger, $"{endpoint.Address}:{endpoint.Port}", cluster.Id, failure, i + 1 < attempts ? "trying another endpoint" : $"gave up after {i + 1} attempt(s)");
            }
        }
        return (null, $"every endpoint tried failed ({failure})");
    }

    private SslClientAuthenticationOptions ClientOptions(TcpCluster cluster, TcpEndpoint endpoint) => new()
    {
        TargetHost = cluster.Host,
        ApplicationProtocols = [new SslApplicationProtocol(AlpnPrefix + endpoint.ServicePort)],
        EnabledSslProtocols = SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        ClientCertificateContext = identity.Value?.Context,
        RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            var problem = identity.CheckPeer(certificate, time.GetUtcNow(), out var peer);
            if (problem is null && $"{peer!.Namespace}/{peer.Service}" != cluster.Identity)
            {
                problem = $"server identity {peer} is not the expected service {cluster.Identity}";
            }
            if (problem is not null)
            {
                Log.UpstreamIdentityRejected(logger, cluster.Identity, problem);
            }
            return problem is null;
        },
    };
}
