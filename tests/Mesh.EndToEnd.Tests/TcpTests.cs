using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Opaque TCP through the mesh with real processes: an app connects to its sidecar's <c>--tcp-upstream</c>
/// port, the bytes go over mutual TLS to the callee's sidecar (ALPN names the TCP port) and on to the TCP app;
/// Istio-format VirtualService tcp/tls rules, ServiceEntry TCP ports and AuthorizationPolicy apply.
/// </summary>
public sealed class TcpTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private const string EchoRoute = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: tcp-echo
        spec:
          hosts:
          - tcp-echo
          tcp:
          - match:
            - port: 9000
            route:
            - destination:
                host: tcp-echo
                port:
                  number: 9000
        """;

    [Fact]
    public async Task TcpEcho_ThroughTwoSidecarsOverMutualTls_CarriesBytesBothWaysHalfCloseAndA64MiBStream()
    {
        await using var mesh = new MeshCluster();
        await using var echo = new TcpEchoServer();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var server = await mesh.StartServiceAsync("tcp-echo", "tcp-echo-1", "--app-tcp-port", $"9000={echo.Port}");
            var local = FreePorts.Next();
            var client = await mesh.StartServiceAsync("sleep", "sleep-1", "--tcp-upstream", $"tcp-echo:9000={local}");
            await mesh.ApplyConfigAsync("tcp-echo.yaml", EchoRoute);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(client, "tcp-echo.default"), e => e.Length == 1, Deadline, () => "tcp-echo routable");

            // Bytes both ways, then the caller's FIN: the echo's trailer comes back after it.
            using (var tcp = await ConnectAsync(local))
            {
                var stream = tcp.GetStream();
                await stream.WriteAsync("hello\n"u8.ToArray());
                Assert.Equal("hello\n", Encoding.ASCII.GetString(await ReadExactlyAsync(stream, 6)));
                await stream.WriteAsync("again\n"u8.ToArray());
                tcp.Client.Shutdown(SocketShutdown.Send);
                Assert.Equal("again\n" + TcpEchoServer.Trailer, Encoding.ASCII.GetString(await ReadToEndAsync(stream)));
            }

            // 64 MiB of random bytes one way while the echo streams back, checked by SHA-256 of each side.
            const int MiB = 1024 * 1024;
            using (var tcp = await ConnectAsync(local))
            {
                var stream = tcp.GetStream();
                using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var writer = Task.Run(async () =>
                {
                    var random = new Random(25);
                    var block = new byte[MiB];
                    for (var i = 0; i < 64; i++)
                    {
                        random.NextBytes(block);
                        sentHash.AppendData(block);
                        await stream.WriteAsync(block);
                    }
                    tcp.Client.Shutdown(SocketShutdown.Send);
                });
                using var receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long received = 0;
                var buffer = new byte[MiB];
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(180));
                int n;
                while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
                {
                    receivedHash.AppendData(buffer, 0, n);
                    received += n;
                }
                await writer;
                sentHash.AppendData(Encoding.ASCII.GetBytes(TcpEchoServer.Trailer));
                Assert.Equal(64L * MiB + TcpEchoServer.Trailer.Length, received);
                Assert.Equal(Convert.ToHexString(sentHash.GetHashAndReset()), Convert.ToHexString(receivedHash.GetHashAndReset()));
            }

            // The callee's sidecar saw the caller's verified identity, and both count bytes per connection.
            await Eventually.TrueAsync(() => Task.FromResult(server.Process.HasLogged("TCP inbound sleep.default -> tcp-echo.default via 127.0.0.1:")), Deadline, () => "inbound connection log");
            (string, string)[] outbound = [("direction", "outbound"), ("source", "sleep.default"), ("destination", "tcp-echo.default")];
            var metrics = await Eventually.ValueAsync(async () => PrometheusText.Parse(await mesh.Http.GetStringAsync(new Uri(client.Admin, "/metrics"))),
                m => m.Value("mesh_tcp_connections_active", outbound) == 0, Deadline, () => "both connections closed");
            Assert.Contains(metrics, m => m.Name == "mesh_tcp_connections_active" && m.Has(outbound)); // the gauge is there, at 0
            Assert.Equal(2, metrics.Value("mesh_tcp_connections_opened_total", outbound));
            Assert.Equal(2, metrics.Value("mesh_tcp_connections_closed_total", [.. outbound, ("outcome", "closed")]));
            Assert.Equal(64L * MiB + "hello\nagain\n".Length, metrics.Value("mesh_tcp_sent_bytes_total", [.. outbound, ("outcome", "closed")]));
            Assert.Equal(64L * MiB + "hello\nagain\n".Length + 2 * TcpEchoServer.Trailer.Length, metrics.Value("mesh_tcp_received_bytes_total", [.. outbound, ("outcome", "closed")]));
            Assert.Equal(2, metrics.Value("mesh_tcp_connection_duration_milliseconds_count", [.. outbound, ("outcome", "closed")]));

            // Half-close the other way: the app speaks first and half-closes; the caller still gets its bytes through.
            await using (var first = new TcpEchoServer(greeting: "hi\n", closeFirst: true))
            {
                var speaker = await mesh.StartServiceAsync("speaker", "speaker-1", "--app-tcp-port", $"9000={first.Port}");
                var speakerLocal = FreePorts.Next();
                var caller = await mesh.StartServiceAsync("caller", "caller-1", "--tcp-upstream", $"speaker:9000={speakerLocal}");
                await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "speaker.default"), e => e.Length == 1, Deadline, () => "speaker routable");
                using var tcp = await ConnectAsync(speakerLocal);
                var stream = tcp.GetStream();
                Assert.Equal("hi\n", Encoding.ASCII.GetString(await ReadExactlyAsync(stream, 3)));
                using (var fin = new CancellationTokenSource(Deadline))
                {
                    Assert.Equal(0, await stream.ReadAsync(new byte[1], fin.Token)); // the app's FIN arrived
                }
                await stream.WriteAsync("still here\n"u8.ToArray());
                tcp.Client.Shutdown(SocketShutdown.Send);
                Assert.Equal("still here\n", await first.Heard.Task.WaitAsync(Deadline));
            }

            // The inbound port takes only mutual TLS: a plain TCP client gets no echo.
            using (var plain = await ConnectAsync(server.InboundPort))
            {
                var stream = plain.GetStream();
                await stream.WriteAsync("hello\n"u8.ToArray());
                Assert.DoesNotContain("hello", Encoding.ASCII.GetString(await ReadToEndAsync(stream)), StringComparison.Ordinal);
            }
        });
    }

    [Fact]
    public async Task AuthorizationPolicy_DenyingTheCallersPrincipal_ClosesItsTcpConnectionAndLogsWhy()
    {
        await using var mesh = new MeshCluster();
        await using var echo = new TcpEchoServer();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var server = await mesh.StartServiceAsync("tcp-echo", "tcp-echo-1", "--app-tcp-port", $"9000={echo.Port}");
            var local = FreePorts.Next();
            var client = await mesh.StartServiceAsync("sleep", "sleep-1", "--tcp-upstream", $"tcp-echo:9000={local}");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(client, "tcp-echo.default"), e => e.Length == 1, Deadline, () => "tcp-echo routable");
            Assert.Equal("ok\n" + TcpEchoServer.Trailer, await EchoOnceAsync(local, "ok\n"));

            await mesh.ApplyConfigAsync("deny.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: deny-sleep
                spec:
                  selector:
                    matchLabels:
                      app: tcp-echo
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals: ["cluster.local/ns/default/sa/sleep"]
                """);
            var accepted = echo.Accepted;
            Assert.Equal("", await EchoOnceAsync(local, "ok\n"));
            Assert.Equal(accepted, echo.Accepted); // the app never saw the connection
            await Eventually.TrueAsync(() => Task.FromResult(server.Process.HasLogged("TCP inbound connection from sleep.default to tcp-echo.default refused: RBAC: spiffe://cluster.local/ns/default/sa/sleep: denied by DENY policy default/deny-sleep")),
                Deadline, () => "denial logged");

            // As Istio: an ALLOW rule with HTTP-only fields never matches TCP, so only the rule without them admits.
            await mesh.ApplyConfigAsync("deny.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: allow-get
                spec:
                  selector:
                    matchLabels:
                      app: tcp-echo
                  rules:
                  - to:
                    - operation:
                        methods: ["GET"]
                """);
            Assert.Equal("", await EchoOnceAsync(local, "ok\n"));
            await mesh.ApplyConfigAsync("deny.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: allow-sleep
                spec:
                  selector:
                    matchLabels:
                      app: tcp-echo
                  rules:
                  - from:
                    - source:
                        principals: ["cluster.local/ns/default/sa/sleep"]
                """);
            Assert.Equal("ok\n" + TcpEchoServer.Trailer, await EchoOnceAsync(local, "ok\n"));
        });
    }

    [Fact]
    public async Task WeightedTcpRoute_Over400Connections_SplitsWithinFourAndAHalfSigmaOfTheWeights()
    {
        await using var mesh = new MeshCluster();
        await using var v1 = new TcpEchoServer(greeting: "v1\n");
        await using var v2 = new TcpEchoServer(greeting: "v2\n");
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            await mesh.StartServiceAsync("tcp-echo", "tcp-echo-v1", "--label", "version=v1", "--app-tcp-port", $"9000={v1.Port}");
            await mesh.StartServiceAsync("tcp-echo", "tcp-echo-v2", "--label", "version=v2", "--app-tcp-port", $"9000={v2.Port}");
            var local = FreePorts.Next();
            var client = await mesh.StartServiceAsync("sleep", "sleep-1", "--tcp-upstream", $"tcp-echo:9000={local}");
            // Istio's tcp traffic-shifting task, at 20/80.
            await mesh.ApplyConfigAsync("tcp-echo.yaml", """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: tcp-echo-destination
                spec:
                  host: tcp-echo
                  subsets:
                  - name: v1
                    labels:
                      version: v1
                  - name: v2
                    labels:
                      version: v2
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: tcp-echo
                spec:
                  hosts:
                  - tcp-echo
                  tcp:
                  - match:
                    - port: 9000
                    route:
                    - destination:
                        host: tcp-echo
                        port:
                          number: 9000
                        subset: v1
                      weight: 20
                    - destination:
                        host: tcp-echo
                        port:
                          number: 9000
                        subset: v2
                      weight: 80
                """);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(client, "tcp-echo.default"), e => e.Length == 2, Deadline, () => "both versions routable");

            const int Connections = 400;
            var counts = new Dictionary<string, int> { ["v1"] = 0, ["v2"] = 0 };
            for (var batch = 0; batch < Connections / 20; batch++)
            {
                var greetings = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
                {
                    using var tcp = await ConnectAsync(local);
                    return Encoding.ASCII.GetString(await ReadExactlyAsync(tcp.GetStream(), 3));
                }));
                foreach (var greeting in greetings)
                {
                    counts[greeting.TrimEnd()]++;
                }
            }
            // Binomial(400, 0.2): mean 80, sigma 8; 4.5 sigma is 36.
            var sigma = Math.Sqrt(Connections * 0.2 * 0.8);
            Assert.True(Math.Abs(counts["v1"] - 80) <= 4.5 * sigma, $"v1 got {counts["v1"]} of {Connections} (expected 80 ± {4.5 * sigma:F0}); v2 {counts["v2"]}");
            Assert.Equal(Connections, counts["v1"] + counts["v2"]);
        });
    }

    [Fact]
    public async Task DeadEndpoint_ConnectFailsOverToAnotherAndIsEjected_EveryConnectionSucceeds()
    {
        await using var mesh = new MeshCluster();
        await using var live = new TcpEchoServer(greeting: "live\n");
        var dead = FreePorts.Next(); // nobody listens: every connect is refused
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var local = FreePorts.Next();
            var client = await mesh.StartServiceAsync("sleep", "sleep-1", "--tcp-upstream", $"cache.example.com:6379={local}");
            await mesh.ApplyConfigAsync("cache.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: cache
                spec:
                  hosts:
                  - cache.example.com
                  ports:
                  - number: 6379
                    name: redis
                    protocol: REDIS
                  resolution: STATIC
                  endpoints:
                  - address: 127.0.0.1
                    ports: {redis: {{dead}}}
                  - address: 127.0.0.1
                    ports: {redis: {{live.Port}}}
                """);

            var greetings = new List<string>();
            for (var i = 0; i < 20; i++)
            {
                using var tcp = await ConnectAsync(local);
                greetings.Add(Encoding.ASCII.GetString(await ReadExactlyAsync(tcp.GetStream(), 5)));
            }

            Assert.All(greetings, g => Assert.Equal("live\n", g));
            var refused = client.Process.Output.Split('\n').Count(l => l.Contains($"TCP connect to 127.0.0.1:{dead} of cache.example.com:6379 failed", StringComparison.Ordinal));
            // Ejected at its first failure (then one probe per backoff: 1 s, 2 s, ...), not tried by half the connections.
            Assert.InRange(refused, 1, 3);
        });
    }

    [Fact]
    public async Task ServiceEntryTcpPort_IsReachedDirectlyThroughTheCallersSidecar()
    {
        await using var mesh = new MeshCluster();
        await using var database = new TcpEchoServer(greeting: "db\n");
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var local = FreePorts.Next();
            var client = await mesh.StartServiceAsync("sleep", "sleep-1", "--tcp-upstream", $"orders-db.example.com:5432={local}");
            await mesh.ApplyConfigAsync("orders-db.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: orders-db
                spec:
                  hosts:
                  - orders-db.example.com
                  location: MESH_EXTERNAL
                  ports:
                  - number: 5432
                    name: postgres
                    protocol: TCP
                  resolution: STATIC
                  endpoints:
                  - address: 127.0.0.1
                    ports:
                      postgres: {{database.Port}}
                """);
            var answer = await EchoOnceAsync(local, "SELECT 1;\n");
            Assert.Equal("db\nSELECT 1;\n" + TcpEchoServer.Trailer, answer);
            await Eventually.TrueAsync(() => Task.FromResult(client.Process.HasLogged("TCP outbound sleep.default -> orders-db.example.com via orders-db.example.com:5432 default/orders-db/127.0.0.1:")),
                Deadline, () => "connection logged with its endpoint");
        });
    }

    [Fact]
    public async Task TlsRouteBySni_PassesTheCallersHandshakeThroughToTheServiceEntryUntouched()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=api.example.com", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("api.example.com");
        request.CertificateExtensions.Add(san.Build());
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var certificate = X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pfx), null);
        await using var mesh = new MeshCluster();
        await using var api = new TcpEchoServer(certificate: certificate);
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var local = FreePorts.Next();
            var client = await mesh.StartServiceAsync("sleep", "sleep-1", "--tls-upstream", $"443={local}");
            await mesh.ApplyConfigAsync("api.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: api
                spec:
                  hosts:
                  - api.example.com
                  ports:
                  - number: 443
                    name: tls
                    protocol: TLS
                  resolution: STATIC
                  endpoints:
                  - address: 127.0.0.1
                    ports:
                      tls: {{api.Port}}
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: api
                spec:
                  hosts:
                  - api.example.com
                  tls:
                  - match:
                    - port: 443
                      sniHosts:
                      - api.example.com
                    route:
                    - destination:
                        host: api.example.com
                        port:
                          number: 443
                """);

            // The client's own handshake reaches the server: it sees the server's certificate, the server its SNI.
            X509Certificate2? seen = null;
            using (var tcp = await ConnectAsync(local))
            await using (var tls = new SslStream(tcp.GetStream()))
            {
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = "api.example.com",
                    RemoteCertificateValidationCallback = (_, cert, _, _) => { seen = cert is null ? null : X509CertificateLoader.LoadCertificate(cert.GetRawCertData()); return true; },
                });
                await tls.WriteAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray());
                await tls.ShutdownAsync();
                tcp.Client.Shutdown(SocketShutdown.Send);
                var answer = Encoding.ASCII.GetString(await ReadToEndAsync(tls));
                Assert.Equal("GET / HTTP/1.0\r\n\r\n" + TcpEchoServer.Trailer, answer);
            }
            Assert.Equal(certificate.Thumbprint, seen?.Thumbprint);
            lock (api.ServerNames)
            {
                Assert.Equal(["api.example.com"], api.ServerNames);
            }

            // A name no tls rule or ServiceEntry has: the connection is closed before any server sees it.
            using (var tcp = await ConnectAsync(local))
            await using (var tls = new SslStream(tcp.GetStream()))
            {
                await Assert.ThrowsAnyAsync<Exception>(() => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = "other.example.com",
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
                }));
            }
            Assert.Equal(1, api.Accepted);
            await Eventually.TrueAsync(() => Task.FromResult(client.Process.HasLogged("no tls rule and no ServiceEntry with a TLS/HTTPS port 443 matches SNI 'other.example.com'")), Deadline, () => "refusal logged");
        });
    }

    private static async Task<TcpClient> ConnectAsync(int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        return tcp;
    }

    /// <summary>Sends <paramref name="text"/>, half-closes, and returns everything that came back before the close.</summary>
    private static async Task<string> EchoOnceAsync(int port, string text)
    {
        using var tcp = await ConnectAsync(port);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(text));
            tcp.Client.Shutdown(SocketShutdown.Send);
            return Encoding.ASCII.GetString(await ReadToEndAsync(stream));
        }
        catch (IOException)
        {
            return ""; // reset: nothing came back
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        using var timeout = new CancellationTokenSource(Deadline);
        await stream.ReadExactlyAsync(buffer, timeout.Token);
        return buffer;
    }

    private static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        using var all = new MemoryStream();
        try
        {
            await stream.CopyToAsync(all, timeout.Token);
        }
        catch (IOException) when (all.Length == 0)
        {
            // reset with nothing read: an empty answer
        }
        return all.ToArray();
    }
}
