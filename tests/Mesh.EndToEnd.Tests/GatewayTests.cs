using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The ingress gateway: a real sidecar process in gateway mode, configured by an Istio Gateway and the
/// VirtualServices bound to it, taking HTTPS (real TLS, a test CA, SNI choosing between two
/// certificates) and plain HTTP from a caller outside the mesh and routing into real services over the
/// mesh's mutual TLS; with the HTTP to HTTPS redirect, clear 404s, and one trace per call.
/// </summary>
public sealed class GatewayTests
{
    private const string Config = """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: edge}
        spec:
          selector: {istio: ingressgateway}
          servers:
          - port: {number: 80, name: http, protocol: HTTP}
            hosts: [shop.example.com]
            tls: {httpsRedirect: true}
          - port: {number: 443, name: https-shop, protocol: HTTPS}
            hosts: [shop.example.com]
            tls: {mode: SIMPLE, credentialName: shop-cert}
          - port: {number: 443, name: https-api, protocol: HTTPS}
            hosts: [api.example.com]
            tls: {mode: SIMPLE, serverCertificate: API_CRT, privateKey: API_KEY}
          - port: {number: 8080, name: http-plain, protocol: HTTP}
            hosts: [api.example.com, www.example.com]
        ---
        # Host- and path-based routing at the gateway.
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: shop}
        spec:
          hosts: [shop.example.com]
          gateways: [edge]
          http:
          - match: [{uri: {prefix: /catalog}}]
            route: [{destination: {host: catalog}}]
          - route: [{destination: {host: storefront}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: api}
        spec:
          hosts: [api.example.com]
          gateways: [default/edge]
          http:
          - route: [{destination: {host: catalog}}]
        ---
        # Bound to 'mesh' only (no gateways): sidecars use these, the gateway does not.
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: catalog-inside}
        spec:
          hosts: [catalog]
          http:
          - headers: {response: {set: {x-via: mesh-rule}}}
            route: [{destination: {host: catalog}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: www-inside}
        spec:
          hosts: [www.example.com]
          gateways: [mesh]
          http:
          - route: [{destination: {host: storefront}}]
        """;

    [Fact]
    public async Task Gateway_RoutesOutsideCallersByItsVirtualServices_OverHttpsWithSni()
    {
        await using var receiver = await OtlpReceiver.StartAsync(grpc: false);
        await using var mesh = new MeshCluster();
        mesh.ExportTracesTo(receiver);
        using var ca = TestCertificates.ForeignCa("CN=Gateway Test CA");
        var credentials = Path.Combine(mesh.Root, "credentials");
        WritePem(ca, "shop.example.com", Path.Combine(credentials, "shop-cert", "tls.crt"), Path.Combine(credentials, "shop-cert", "tls.key"));
        var (apiCrt, apiKey) = (Path.Combine(mesh.Root, "api.crt"), Path.Combine(mesh.Root, "api.key"));
        WritePem(ca, "api.example.com", apiCrt, apiKey);
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            mesh.WriteConfig("edge.yaml", Config.Replace("API_CRT", apiCrt, StringComparison.Ordinal).Replace("API_KEY", apiKey, StringComparison.Ordinal));
            var storefront = await mesh.StartServiceAsync("storefront", "storefront-1");
            await mesh.StartServiceAsync("catalog", "catalog-1");
            var (http, https, plain) = (FreePorts.Next(), FreePorts.Next(), FreePorts.Next());
            var gateway = mesh.StartSidecar("edge", "edge-1", 0, "--gateway", "edge", "--gateway-listen", "127.0.0.1",
                "--gateway-port", $"80={http}", "--gateway-port", $"443={https}", "--gateway-port", $"8080={plain}",
                "--credentials-dir", credentials, "--trace-sampling", "1");
            await mesh.WaitReadyAsync(gateway);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(gateway, "catalog.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "catalog routable at the gateway");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(gateway, "storefront.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "storefront routable at the gateway");

            var served = new List<string>();
            using var client = OutsideClient(https, ca, served);
            async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> GetAsync(HttpClient c, string url)
            {
                var response = await c.GetAsync(new Uri(url));
                return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
            }

            // HTTPS: SNI picks each host's certificate (one from --credentials-dir, one from files); host and path pick the service.
            var shop = await Eventually.ValueAsync(() => GetAsync(client, "https://shop.example.com/books/1"), r => r.Status == HttpStatusCode.OK,
                TimeSpan.FromSeconds(20), () => "the gateway's HTTPS port answers");
            Assert.Equal("storefront-1 GET /books/1", shop.Body);
            Assert.Equal("CN=shop.example.com", served[^1]);
            Assert.Equal("catalog-1 GET /catalog/books", (await GetAsync(client, "https://shop.example.com/catalog/books")).Body);
            var api = await GetAsync(client, "https://api.example.com/items?page=2");
            Assert.Equal("catalog-1 GET /items?page=2", api.Body);
            Assert.Equal("CN=api.example.com", served[^1]);
            // A renewed certificate written over the files is served to new connections, without a restart.
            WritePem(ca, "shop.example.com", Path.Combine(credentials, "shop-cert", "tls.crt"), Path.Combine(credentials, "shop-cert", "tls.key"), "O=renewed");
            await Eventually.ValueAsync(async () =>
            {
                using var fresh = OutsideClient(https, ca, served);
                return (await GetAsync(fresh, "https://shop.example.com/")).Status == HttpStatusCode.OK && served[^1].Contains("O=renewed", StringComparison.Ordinal);
            }, renewed => renewed, TimeSpan.FromSeconds(20), () => $"the renewed certificate is served (last: {served[^1]})");
            // The mesh-only rule for catalog (its x-via header) is not applied at the gateway...
            Assert.False(api.Response.Headers.Contains("x-via"));
            // ...but is applied by sidecars, which in turn do not route the gateway-only host.
            var inside = await mesh.CallAsync(storefront, "catalog", "/items");
            Assert.Equal("mesh-rule", inside.Response.Headers.GetValues("x-via").Single());
            var gatewayOnly = await mesh.CallAsync(storefront, "shop.example.com", "/");
            Assert.Equal((HttpStatusCode.NotFound, "unknown-host"), (gatewayOnly.Status, gatewayOnly.Response.Headers.GetValues("x-mesh-error").Single()));

            // Plain HTTP: routed by host; www.example.com is routed by a mesh-only VirtualService, so the gateway has no route for it.
            Assert.Equal("catalog-1 GET /plain", (await GetWithHostAsync(mesh, plain, "api.example.com", "/plain")).Body);
            var www = await GetWithHostAsync(mesh, plain, "www.example.com", "/");
            Assert.Equal((HttpStatusCode.NotFound, "unknown-host"), (www.Status, www.Response.Headers.GetValues("x-mesh-error").Single()));
            Assert.Contains("unknown host 'www.example.com'", www.Body, StringComparison.Ordinal);
            Assert.Equal("storefront-1 GET /", (await mesh.CallAsync(storefront, "www.example.com", "/")).Body);
            var unknown = await GetWithHostAsync(mesh, plain, "nobody.example.org", "/");
            Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
            Assert.Equal("mesh gateway: host 'nobody.example.org' is not served on port 8080. Hosts served there: api.example.com, www.example.com.\n", unknown.Body);

            // An HTTP server with httpsRedirect sends callers to the HTTPS URL (the Gateway's public port 443, so no port).
            var redirect = await GetWithHostAsync(mesh, http, "shop.example.com", "/books?x=1");
            Assert.Equal(HttpStatusCode.MovedPermanently, redirect.Status);
            Assert.Equal("https://shop.example.com/books?x=1", redirect.Response.Headers.Location?.ToString());

            // A TLS client naming a host no HTTPS server serves gets no certificate at all.
            await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("https://other.example.com/")));

            // One trace from the gateway (where it starts) to the service's sidecar.
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(client, "https://api.example.com/traced")).Status);
            // The three spans come from two processes' export batches: wait for the whole chain, callee to root.
            var (attempt, root) = await Eventually.ValueAsync(() => Task.FromResult(Chain(receiver.Spans.ToArray())), c => c.Root is not null,
                TimeSpan.FromSeconds(20), () => "the chain of the traced call: catalog's inbound span, the gateway's attempt and its root span");
            Assert.Equal(("edge.default", ReceivedSpan.Client, "catalog.default"), (attempt!.Service, attempt.Kind, attempt.Attribute("mesh.destination.service")));
            Assert.Equal(("edge.default", ReceivedSpan.Server, ""), (root!.Service, root.Kind, root.ParentSpanId));

            // The gateway counts its calls as a sidecar's outbound port does.
            var metrics = PrometheusText.Parse(await mesh.Http.GetStringAsync(new Uri(gateway.Admin, "/metrics")));
            Assert.True(metrics.Value("mesh_requests_total", ("source", "edge.default"), ("destination", "catalog.default"), ("status", "200")) >= 4);
        });
    }

    /// <summary>A Gateway 'edge' with one HTTPS server for <paramref name="host"/>, its <c>tls</c> as given, and room for more servers after it.</summary>
    internal static string HttpsGateway(string host, string tls) => $$"""
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: edge}
        spec:
          servers:
          - port: {number: 443, name: https, protocol: HTTPS}
            hosts: [{{host}}]
            tls: {{tls}}

        """;

    private static readonly string MutualServer = HttpsGateway("secure.example.com", "{mode: MUTUAL, credentialName: secure}");

    /// <summary>A plain HTTP port for any host, as Istio's Bookinfo gateway has.</summary>
    private const string AnyHostServer = """
          - port: {number: 8080, name: http, protocol: HTTP}
            hosts: ["*"]

        """;

    private const string VirtualServices = """
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: secure}
        spec:
          hosts: [secure.example.com]
          gateways: [edge]
          http:
          - timeout: 500ms
            route: [{destination: {host: catalog}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: any}
        spec:
          hosts: ["*"]
          gateways: [edge]
          http:
          - match: [{uri: {prefix: /api}}]
            route: [{destination: {host: catalog}}]
        """;

    [Fact]
    public async Task Gateway_MutualTlsRouteTimeout_AndPortsFollowTheGatewayConfig()
    {
        await using var mesh = new MeshCluster();
        using var ca = TestCertificates.ForeignCa("CN=Gateway Test CA");
        using var clientCa = TestCertificates.ForeignCa("CN=Partner CA");
        using var stranger = TestCertificates.ForeignCa("CN=Stranger CA");
        var credentials = Path.Combine(mesh.Root, "credentials");
        WritePem(ca, "secure.example.com", Path.Combine(credentials, "secure", "tls.crt"), Path.Combine(credentials, "secure", "tls.key"));
        File.WriteAllText(Path.Combine(credentials, "secure", "ca.crt"), clientCa.ExportCertificatePem());
        using var partner = TestCertificates.Workload(clientCa, [], DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var impostor = TestCertificates.Workload(stranger, [], DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            mesh.WriteConfig("edge.yaml", MutualServer + VirtualServices);
            await mesh.StartServiceAsync("catalog", "catalog-1");
            var (https, plain) = (FreePorts.Next(), FreePorts.Next());
            var gateway = mesh.StartSidecar("edge", "edge-1", 0, "--gateway", "edge", "--gateway-listen", "127.0.0.1",
                "--gateway-port", $"443={https}", "--gateway-port", $"8080={plain}", "--credentials-dir", credentials);
            await mesh.WaitReadyAsync(gateway);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(gateway, "catalog.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "catalog routable at the gateway");

            var served = new List<string>();
            using var withCertificate = OutsideClient(https, ca, served, partner);
            var ok = await Eventually.ValueAsync(async () => await withCertificate.GetAsync(new Uri("https://secure.example.com/items")), r => r.IsSuccessStatusCode,
                TimeSpan.FromSeconds(20), () => "the MUTUAL port answers a client with a partner certificate");
            Assert.Equal("catalog-1 GET /items", await ok.Content.ReadAsStringAsync());
            // MUTUAL: no client certificate, or one of another CA, gets no TLS session.
            using var without = OutsideClient(https, ca, served);
            await Assert.ThrowsAsync<HttpRequestException>(() => without.GetAsync(new Uri("https://secure.example.com/items")));
            using var withImpostor = OutsideClient(https, ca, served, impostor);
            await Assert.ThrowsAsync<HttpRequestException>(() => withImpostor.GetAsync(new Uri("https://secure.example.com/items")));

            // The route's timeout holds at the gateway as at a sidecar.
            var slow = await withCertificate.GetAsync(new Uri("https://secure.example.com/delay/3000"));
            Assert.Equal((HttpStatusCode.GatewayTimeout, "upstream-timeout"), (slow.StatusCode, slow.Headers.GetValues("x-mesh-error").Single()));

            // A port added to the Gateway is bound without a restart; '*' takes any host there.
            await Assert.ThrowsAsync<HttpRequestException>(() => GetWithHostAsync(mesh, plain, "whatever.example.net", "/api/books"));
            await mesh.ApplyConfigAsync("edge.yaml", MutualServer + AnyHostServer + VirtualServices);
            var any = await Eventually.ValueAsync(() => GetWithHostAsync(mesh, plain, "whatever.example.net", "/api/books"), r => r.Status == HttpStatusCode.OK,
                TimeSpan.FromSeconds(20), () => "the added port routes any host");
            Assert.Equal("catalog-1 GET /api/books", any.Body);
            Assert.Equal(HttpStatusCode.NotFound, (await GetWithHostAsync(mesh, plain, "whatever.example.net", "/other")).Status);
        });
    }

    /// <summary>The parent and grandparent of catalog's inbound span of the call to /traced, once received.</summary>
    private static (ReceivedSpan? Attempt, ReceivedSpan? Root) Chain(ReceivedSpan[] spans)
    {
        var callee = spans.FirstOrDefault(x => x.Service == "catalog.default" && x.Kind == ReceivedSpan.Server && x.Attribute("url.path") == "/traced");
        var attempt = callee is null ? null : spans.FirstOrDefault(s => s.TraceId == callee.TraceId && s.SpanId == callee.ParentSpanId);
        var root = attempt is null ? null : spans.FirstOrDefault(s => s.TraceId == attempt.TraceId && s.SpanId == attempt.ParentSpanId);
        return (attempt, root);
    }

    private static async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> GetWithHostAsync(MeshCluster mesh, int port, string host, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{port}{path}"));
        request.Headers.Host = host;
        var response = await mesh.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    /// <summary>A caller outside the mesh: every connection goes to the gateway's HTTPS port, TLS names the URL's host (SNI), and the server must prove it with a certificate of <paramref name="ca"/>.</summary>
    internal static HttpClient OutsideClient(int port, X509Certificate2 ca, List<string> served, X509Certificate2? clientCertificate = null) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        },
        SslOptions = new SslClientAuthenticationOptions
        {
            ClientCertificates = clientCertificate is null ? null : new X509CertificateCollection { clientCertificate },
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                {
                    return false; // no certificate, or not for the name asked for
                }
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                lock (served)
                {
                    served.Add(presented.Subject);
                }
                return chain.Build(presented);
            },
        },
    }) { Timeout = TimeSpan.FromSeconds(15) };

    /// <summary>A server certificate for <paramref name="host"/> signed by <paramref name="ca"/>, written as PEM (certificate, then key).</summary>
    internal static void WritePem(X509Certificate2 ca, string host, string certificatePath, string keyPath, string? organization = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(organization is null ? $"CN={host}" : $"CN={host}, {organization}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(12));
        Directory.CreateDirectory(Path.GetDirectoryName(certificatePath)!);
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
    }
}
