using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Identity and mutual TLS against real processes: each attack from the security issue gets the right
/// refusal, the refusal is logged without secrets, and the legitimate path next to it still works
/// (so a refusal is the mesh's doing, not a broken test).
/// </summary>
public sealed class SecurityTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Inbound_OnlyValidMeshCertificatesGetIn()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            var (caller, ratings) = await StartProductpageAndRatingsAsync(mesh);
            var inbound = new Uri($"https://127.0.0.1:{ratings.InboundPort}/r");

            // Through the mesh: mutual TLS 1.3 over HTTP/2, and the callee sees who called.
            var (status, body, _) = await mesh.CallAsync(caller, "ratings", "/r");
            Assert.Equal((HttpStatusCode.OK, "ratings-1 GET /r"), (status, body));

            // A certificate the mesh root signed for a valid identity gets in (the control case for the attacks below).
            using var root = TestCertificates.MeshRoot(cp);
            using var valid = TestCertificates.Workload(root, TestCertificates.Spiffe("productpage"), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
            using (var client = TestCertificates.Client(valid, HttpVersion.Version20))
            {
                using var ok = await client.GetAsync(inbound);
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
                Assert.Equal(new Version(2, 0), ok.Version);
            }

            // No client certificate, one from another CA, an expired one: the handshake is refused.
            using var foreignCa = TestCertificates.ForeignCa();
            using var foreign = TestCertificates.Workload(foreignCa, TestCertificates.Spiffe("productpage"), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
            // The root was made 5 minutes before the control plane started: a minute of validity from then is long over.
            using var expired = TestCertificates.Workload(root, TestCertificates.Spiffe("productpage"), root.NotBefore, root.NotBefore.AddMinutes(1));
            foreach (var (certificate, logged) in new (X509Certificate2?, string)[] { (null, "no client certificate"), (foreign, "does not chain to the mesh root"), (expired, "is not valid now") })
            {
                using var client = TestCertificates.Client(certificate);
                await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(inbound));
                await Eventually.TrueAsync(() => Task.FromResult(ratings.Process.HasLogged(logged)), TimeSpan.FromSeconds(5), () => $"ratings' sidecar logged '{logged}'");
            }

            // Plaintext is refused by default (STRICT), with a readable answer.
            using (var plain = new HttpClient(new SocketsHttpHandler { UseProxy = false }))
            {
                using var refused = await plain.GetAsync(new Uri($"http://127.0.0.1:{ratings.InboundPort}/r"));
                Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
                Assert.Equal("mtls-required", refused.Headers.GetValues("x-mesh-error").Single());
            }

            var metrics = PrometheusText.Parse(await mesh.Http.GetStringAsync(new Uri(ratings.Admin, "/metrics")));
            foreach (var reason in new[] { "no-client-certificate", "untrusted", "expired", "plaintext" })
            {
                Assert.True(metrics.Value("mesh_inbound_refused_total", ("reason", reason)) >= 1, $"refusals counted by reason {reason}");
            }
            Assert.True(metrics.Value("mesh_certificate_expiry_seconds") > DateTimeOffset.UtcNow.ToUnixTimeSeconds(), "certificate expiry exported");
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(caller, "ratings", "/r")).Status);
        });
    }

    [Fact]
    public async Task AuthorizationPolicy_DeniesByPrincipalPathAndMethod_403WithReasonAndCounted()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var productpage = await mesh.StartServiceAsync("productpage", "productpage-1");
            var reviews = await mesh.StartServiceAsync("reviews", "reviews-1");
            var ratings = await mesh.StartServiceAsync("ratings", "ratings-1");
            await mesh.ApplyConfigAsync("ratings-policy.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: ratings-readers}
                spec:
                  selector: {matchLabels: {app: ratings}}
                  action: ALLOW
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/default/sa/productpage"]}}]
                    to: [{operation: {methods: [GET], paths: ["/ratings/*", "/admin/*"]}}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: no-admin}
                spec:
                  action: DENY
                  rules:
                  - to: [{operation: {paths: ["/admin/*"]}}]
                """);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(reviews, "ratings.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "ratings routable");

            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(productpage, "ratings", "/ratings/1")).Status);

            var (status, body, response) = await mesh.CallAsync(productpage, "ratings", "/admin/reset");
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("RBAC: access denied: denied by DENY policy default/no-admin\n", body);
            Assert.Equal("rbac-denied", response.Headers.GetValues("x-mesh-error").Single());

            (status, body, _) = await mesh.SendAsync(productpage, "ratings", "/ratings/1", r => r.Method = HttpMethod.Delete);
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("no ALLOW policy matched (applicable: default/ratings-readers)", body, StringComparison.Ordinal);

            // reviews has a valid certificate, but not the principal the policy allows.
            (status, body, _) = await mesh.CallAsync(reviews, "ratings", "/ratings/1");
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("no ALLOW policy matched", body, StringComparison.Ordinal);

            var metrics = PrometheusText.Parse(await mesh.Http.GetStringAsync(new Uri(ratings.Admin, "/metrics")));
            Assert.Equal(1, metrics.Value("mesh_denied_total", ("source", "productpage.default"), ("destination", "ratings.default"), ("policy", "default/no-admin")));
            Assert.Equal(1, metrics.Value("mesh_denied_total", ("source", "productpage.default"), ("policy", "no-allow-match")));
            Assert.Equal(1, metrics.Value("mesh_denied_total", ("source", "reviews.default"), ("policy", "no-allow-match")));
            await Eventually.TrueAsync(() => Task.FromResult(ratings.Process.HasLogged("Denied GET /admin/reset from spiffe://cluster.local/ns/default/sa/productpage: denied by DENY policy default/no-admin")), TimeSpan.FromSeconds(5), () => "the denial is logged with the caller's identity");
            // The app never saw a denied call.
            var seen = await mesh.Http.GetStringAsync(new Uri($"http://127.0.0.1:{ratings.AppPort}/admin/requests"));
            Assert.DoesNotContain("/admin/reset", seen, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task PeerAuthentication_PermissiveTakesPlaintext_DisableTlsModeCallsIt_StrictRefusesAgain()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var (caller, ratings) = await StartProductpageAndRatingsAsync(mesh);
            using var plain = new HttpClient(new SocketsHttpHandler { UseProxy = false });
            var inbound = new Uri($"http://127.0.0.1:{ratings.InboundPort}/r");

            const string permissive = """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: ratings}
                spec: {selector: {matchLabels: {app: ratings}}, mtls: {mode: PERMISSIVE}}
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: ratings}
                spec: {host: ratings, trafficPolicy: {tls: {mode: DISABLE}}}
                """;
            await mesh.ApplyConfigAsync("ratings.yaml", permissive);
            Assert.Equal("ratings-1 GET /r", await plain.GetStringAsync(inbound));
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(caller, "ratings", "/r")).Status); // the caller now sends plaintext

            // Back to STRICT: a plaintext connection accepted before gets 403 on its next request, a new one
            // is refused, and the caller still set to DISABLE fails loudly.
            await mesh.ApplyConfigAsync("ratings.yaml", permissive.Replace("PERMISSIVE", "STRICT", StringComparison.Ordinal));
            using (var onOldConnection = await plain.GetAsync(inbound))
            {
                Assert.Equal(HttpStatusCode.Forbidden, onOldConnection.StatusCode);
                Assert.Contains("mutual TLS required", await onOldConnection.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
            using var fresh = new HttpClient(new SocketsHttpHandler { UseProxy = false });
            using var refused = await fresh.GetAsync(inbound);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.NotEqual(HttpStatusCode.OK, (await mesh.CallAsync(caller, "ratings", "/r")).Status);

            // Removing the DISABLE restores mutual TLS between the two.
            await mesh.ApplyConfigAsync("ratings.yaml", """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: ratings}
                spec: {mtls: {mode: STRICT}}
                """);
            await Eventually.ValueAsync(async () => (await mesh.CallAsync(caller, "ratings", "/r")).Status, s => s == HttpStatusCode.OK,
                TimeSpan.FromSeconds(10), () => "mutual TLS call after DISABLE was removed");
        });
    }

    /// <summary>The agent scope extension of workload certificates (see WorkloadCertificates.AgentScopeOid).</summary>
    private const string AgentScopeOid = "2.25.208433599011234885926207061338151729003";

    [Fact]
    public async Task AgentScope_ComesFromTheJoinToken_NamespaceTokensRegisterConsulInstancesThere_AndNothingElse()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            using var anonymous = TestCertificates.Client(null, HttpVersion.Version20);
            string shopToken;
            using (var response = await mesh.Http.PostAsJsonAsync(new Uri(cp.Admin, "/v1/join-tokens"), new { @namespace = "shop" }))
            {
                shopToken = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
            }
            var (status, _, agentCert) = await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("agent", "shop"), shopToken);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.NotNull(agentCert!.Extensions[AgentScopeOid]);

            async Task<HttpStatusCode> RegisterAsync(X509Certificate2 cert, string service, string ns, string source)
            {
                using var client = TestCertificates.Client(cert, HttpVersion.Version20);
                var registration = new { instanceId = $"{service}-1@agent", service, @namespace = ns, address = "127.0.0.1", port = 9, health = "Healthy", source, node = "agent" };
                using var response = await client.PostAsJsonAsync(new Uri(cp.SidecarApi, "/v1/register"), registration);
                return response.StatusCode;
            }
            // A namespace token's agent: Consul or Eureka registrations of any service there; no sidecar impostors; no other namespace.
            Assert.Equal(HttpStatusCode.OK, await RegisterAsync(agentCert, "web", "shop", "CONSUL"));
            Assert.Equal(HttpStatusCode.OK, await RegisterAsync(agentCert, "billing", "shop", "EUREKA"));
            Assert.Equal(HttpStatusCode.Forbidden, await RegisterAsync(agentCert, "web", "shop", "SIDECAR"));
            Assert.Equal(HttpStatusCode.Forbidden, await RegisterAsync(agentCert, "web", "default", "CONSUL"));

            // Renewed with the certificate itself, the scope is kept.
            using (var asAgent = TestCertificates.Client(agentCert, HttpVersion.Version20))
            {
                var (renewed, _, renewedCert) = await TestCertificates.RequestAsync(asAgent, cp, TestCertificates.Spiffe("agent", "shop"), null);
                Assert.Equal(HttpStatusCode.OK, renewed);
                Assert.Equal(HttpStatusCode.OK, await RegisterAsync(renewedCert!, "cart", "shop", "CONSUL"));
            }

            // A service token: its own service only, and a scope smuggled into the CSR is not copied.
            var ratingsToken = await mesh.CreateJoinTokenAsync("ratings");
            var smuggled = new X509Extension(AgentScopeOid, [0x0c, 0x01, (byte)'*'], critical: false);
            var (_, _, ratingsCert) = await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("ratings"), ratingsToken, smuggled);
            Assert.Null(ratingsCert!.Extensions[AgentScopeOid]);
            Assert.Equal(HttpStatusCode.Forbidden, await RegisterAsync(ratingsCert, "web", "default", "CONSUL"));
            Assert.Equal(HttpStatusCode.OK, await RegisterAsync(ratingsCert, "ratings", "default", "CONSUL"));
        });
    }

    [Fact]
    public async Task ControlPlane_RefusesImpostorsBadTokensAndForeignIdentities_AndLogsNoSecret()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            await mesh.StartServiceAsync("ratings", "ratings-1");
            var productpageToken = await mesh.CreateJoinTokenAsync("productpage");
            using var anonymous = TestCertificates.Client(null, HttpVersion.Version20);

            // A CSR for another service's identity with a token scoped to productpage.
            var (status, body, _) = await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("ratings"), productpageToken);
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("is scoped to default/productpage; it may not request spiffe://cluster.local/ns/default/sa/ratings", body, StringComparison.Ordinal);

            // No token, a made-up token, then the right one.
            Assert.Equal(HttpStatusCode.Unauthorized, (await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("productpage"), null)).Status);
            Assert.Equal(HttpStatusCode.Unauthorized, (await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("productpage"), "mesh-join.0123456789ab.guessed")).Status);
            var (issuedStatus, _, productpageCert) = await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("productpage"), productpageToken);
            Assert.Equal(HttpStatusCode.OK, issuedStatus);

            // productpage (a valid certificate) registering as ratings, renewing ratings' instance, or asking for ratings' identity.
            using var asProductpage = TestCertificates.Client(productpageCert, HttpVersion.Version20);
            var registration = new { instanceId = "ratings-evil", service = "ratings", @namespace = "default", address = "127.0.0.1", port = 9, labels = new Dictionary<string, string>(), health = "Healthy" };
            using (var response = await asProductpage.PostAsJsonAsync(new Uri(cp.SidecarApi, "/v1/register"), registration))
            {
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            }
            using (var response = await asProductpage.PutAsJsonAsync(new Uri(cp.SidecarApi, "/v1/instances/ratings-1/heartbeat"), new { health = "Unhealthy" }))
            {
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            }
            using (var response = await asProductpage.DeleteAsync(new Uri(cp.SidecarApi, "/v1/instances/ratings-1")))
            {
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            }
            Assert.Equal(HttpStatusCode.Forbidden, (await TestCertificates.RequestAsync(asProductpage, cp, TestCertificates.Spiffe("ratings"), null)).Status);
            // ...while registering its own instance works (the control case).
            using (var response = await asProductpage.PostAsJsonAsync(new Uri(cp.SidecarApi, "/v1/register"), registration with { instanceId = "productpage-x", service = "productpage" }))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            // Without a certificate, nothing but the CA's public endpoints answers.
            using (var response = await anonymous.GetAsync(new Uri(cp.SidecarApi, "/v1/snapshot?version=0&wait=00:00:01")))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            }
            var instances = await mesh.Http.GetStringAsync(new Uri(cp.Admin, "/v1/instances"));
            Assert.DoesNotContain("ratings-evil", instances, StringComparison.Ordinal);
            Assert.Contains("ratings-1", instances, StringComparison.Ordinal);

            // A revoked token gets no more certificates.
            using (var revoke = await mesh.Http.DeleteAsync(new Uri(cp.Admin, $"/v1/join-tokens/{productpageToken.Split('.')[1]}")))
            {
                Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
            }
            (status, body, _) = await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("productpage"), productpageToken);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Contains("was revoked", body, StringComparison.Ordinal);

            // The admin API: no token, a wrong token.
            using var noToken = new HttpClient(new SocketsHttpHandler { UseProxy = false });
            using (var response = await noToken.GetAsync(new Uri(cp.Admin, "/v1/instances")))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            }
            noToken.DefaultRequestHeaders.Authorization = new("Bearer", "mesh-admin.wrong");
            using (var response = await noToken.PostAsync(new Uri(cp.Admin, "/v1/join-tokens"), JsonContent.Create(new { })))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            }
            using (var response = await noToken.GetAsync(new Uri(cp.Admin, "/ready")))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode); // probes stay open
            }

            // Every refusal is logged with its reason, and no secret is. The console logger writes from a
            // queue and the test reads the pipe asynchronously: the last lines may take a moment to arrive.
            string[] refusals = ["Refused 403 POST /v1/certificates", "Refused 401 POST /v1/certificates", "Refused 403 POST /v1/register", "Refused 403 PUT /v1/instances/ratings-1/heartbeat",
                "Refused 403 DELETE /v1/instances/ratings-1", "Refused 401 GET /v1/snapshot", "was revoked", "Refused 401 GET /v1/instances", "wrong admin token"];
            await Eventually.TrueAsync(() => Task.FromResult(refusals.All(r => cp.Process.HasLogged(r))), TimeSpan.FromSeconds(5),
                () => "refusals not logged: " + string.Join(", ", refusals.Where(r => !cp.Process.HasLogged(r))));
            var log = cp.Process.Output;
            Assert.DoesNotContain(productpageToken.Split('.')[2], log, StringComparison.Ordinal);
            Assert.DoesNotContain(mesh.AdminToken, log, StringComparison.Ordinal);
            Assert.DoesNotContain(File.ReadAllText(mesh.JoinTokenFile).Split('.')[2], mesh.Logs, StringComparison.Ordinal);
            Assert.DoesNotContain("PRIVATE KEY", mesh.Logs, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task ControlPlane_RefusesCertificatesWithoutAValidSpiffeIdOfItsTrustDomain_401WithTheReason()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            using var root = TestCertificates.MeshRoot(cp);
            var (from, to) = (DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
            using var foreignCa = TestCertificates.ForeignCa();
            // Each is signed by the mesh root (but the foreign one and the expired one), valid now and meant for client auth.
            var cases = new (string Name, X509Certificate2 Certificate, string Reason)[]
            {
                ("no SAN", TestCertificates.Workload(root, [], from, to), "has no SPIFFE id (spiffe://<trust-domain>/ns/<namespace>/sa/<service>) in its URI SAN"),
                ("not a SPIFFE URI", TestCertificates.Workload(root, ["https://reviews.example/"], from, to), "has no SPIFFE id"),
                ("malformed", TestCertificates.Workload(root, ["spiffe://cluster.local/default/reviews"], from, to), "has a malformed SPIFFE id 'spiffe://cluster.local/default/reviews'"),
                ("two ids", TestCertificates.Workload(root, [TestCertificates.Spiffe("reviews"), TestCertificates.Spiffe("ratings")], from, to), "carries 2 SPIFFE ids"),
                ("other trust domain", TestCertificates.Workload(root, [TestCertificates.Spiffe("reviews", trustDomain: "other.example")], from, to),
                    "certificate identity spiffe://other.example/ns/default/sa/reviews is from trust domain 'other.example', not 'cluster.local'"),
                ("another CA", TestCertificates.Workload(foreignCa, TestCertificates.Spiffe("reviews"), from, to), "does not chain to the mesh root"),
                ("expired", TestCertificates.Workload(root, TestCertificates.Spiffe("reviews"), root.NotBefore, root.NotBefore.AddMinutes(1)), "is not valid now"),
            };
            var registration = new { instanceId = "reviews-1", service = "reviews", @namespace = "default", address = "127.0.0.1", port = 9, labels = new Dictionary<string, string>(), health = "Healthy" };
            foreach (var (name, certificate, reason) in cases)
            {
                using (certificate)
                using (var client = TestCertificates.Client(certificate, HttpVersion.Version20))
                {
                    // Twice: the second answer comes from the validation cache and must say the same.
                    for (var attempt = 0; attempt < 2; attempt++)
                    {
                        using var response = await client.PostAsJsonAsync(new Uri(cp.SidecarApi, "/v1/register"), registration);
                        var body = await response.Content.ReadAsStringAsync();
                        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{name} (attempt {attempt + 1}): {(int)response.StatusCode} {body}");
                        Assert.Contains(reason, body, StringComparison.Ordinal);
                        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
                    }
                }
                await Eventually.TrueAsync(() => Task.FromResult(cp.Process.HasLogged(reason)), TimeSpan.FromSeconds(5), () => $"the refusal of '{name}' is logged with its reason");
            }

            // The control case: the same request with a proper workload certificate is accepted, twice (the second from the cache).
            using var valid = TestCertificates.Workload(root, TestCertificates.Spiffe("reviews"), from, to);
            using var asReviews = TestCertificates.Client(valid, HttpVersion.Version20);
            for (var attempt = 0; attempt < 2; attempt++)
            {
                using var response = await asReviews.PostAsJsonAsync(new Uri(cp.SidecarApi, "/v1/register"), registration);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            Assert.Contains("reviews-1", await mesh.Http.GetStringAsync(new Uri(cp.Admin, "/v1/instances")), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Rotation_UnderLoad_ZeroFailedRequests()
    {
        await using var mesh = new MeshCluster();
        mesh.ControlPlaneArgs.AddRange(["--workload-cert-ttl", "4s"]);
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("ratings", "ratings-1");
            await mesh.StartServiceAsync("ratings", "ratings-2");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.Length == 2, TimeSpan.FromSeconds(20), () => "both ratings routable");

            // 12 s of calls from 4 callers: each certificate is renewed about every 2 s, 6 times over.
            var until = DateTime.UtcNow.AddSeconds(12);
            var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
            var calls = 0;
            await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
            {
                while (DateTime.UtcNow < until)
                {
                    var (status, body, _) = await mesh.CallAsync(caller, "ratings", "/r");
                    Interlocked.Increment(ref calls);
                    if (status != HttpStatusCode.OK)
                    {
                        failures.Add($"{(int)status} {body}");
                    }
                }
            }));

            var renewed = mesh.Sidecars.Select(s => s.Process.Output.Split('\n').Count(l => l.Contains("(renewed)", StringComparison.Ordinal))).ToArray();
            output.WriteLine($"rotation under load: {calls} calls in 12 s from 4 callers, {failures.Count} failed; certificates renewed per sidecar: {string.Join(", ", renewed)}");
            Assert.True(calls > 200, $"only {calls} calls were made");
            Assert.True(failures.IsEmpty, $"{failures.Count} of {calls} calls failed during rotation: {string.Join(" | ", failures.Take(5))}");
            foreach (var sidecar in mesh.Sidecars)
            {
                var renewals = sidecar.Process.Output.Split('\n').Count(l => l.Contains("(renewed)", StringComparison.Ordinal));
                Assert.True(renewals >= 4, $"{sidecar.InstanceId} renewed its certificate {renewals} times in 12 s");
            }
        });
    }

    [Fact]
    public async Task ControlPlaneRestart_KeepsTheRoot_AndIssuedCertificatesStayValid()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            var (caller, ratings) = await StartProductpageAndRatingsAsync(mesh);
            var rootBefore = await File.ReadAllTextAsync(Path.Combine(cp.DataDir, "ca", "root.crt"));
            var certBefore = await File.ReadAllTextAsync(Path.Combine(ratings.DataDir, "identity", "cert.pem"));

            await mesh.RestartControlPlaneAsync();
            Assert.Equal(rootBefore, await File.ReadAllTextAsync(Path.Combine(cp.DataDir, "ca", "root.crt")));

            // The sidecars go on with the certificates they had: heartbeats and watches are accepted,
            // calls between them work, and a sidecar that joins now trusts the old ones.
            await Eventually.ValueAsync(mesh.ProxyStatusAsync, s => s.Length == 2 && s.All(p => p.GetProperty("status").GetString() == "SYNCED"),
                TimeSpan.FromSeconds(20), () => "both sidecars SYNCED with the restarted control plane");
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(caller, "ratings", "/r")).Status);
            var newcomer = await mesh.StartServiceAsync("reviews", "reviews-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(newcomer, "ratings.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "ratings routable from the newcomer");
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(newcomer, "ratings", "/r")).Status);
            Assert.Equal(certBefore, await File.ReadAllTextAsync(Path.Combine(ratings.DataDir, "identity", "cert.pem")));
            Assert.False(ratings.Process.HasLogged("Refused"), "no refusal on the old certificate");
        });
    }

    [Fact]
    public async Task ControlPlane_TakesARootMadeWithTheCertsScript_InItsTrustDomain_AndSidecarsTrustItByFlag()
    {
        await using var mesh = new MeshCluster();
        var dir = Path.Combine(mesh.Root, "dev-root");
        var script = Path.Combine(RepoPaths.Root, "certs", "make-dev-root.sh");
        using (var make = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bash", [script, dir, "30"]) { RedirectStandardOutput = true, RedirectStandardError = true })!)
        {
            await make.WaitForExitAsync();
            Assert.True(make.ExitCode == 0, await make.StandardError.ReadToEndAsync());
        }
        var rootPem = await File.ReadAllTextAsync(Path.Combine(dir, "root.crt"));
        mesh.ControlPlaneArgs.AddRange(["--root-cert", Path.Combine(dir, "root.crt"), "--root-key", Path.Combine(dir, "root.key"), "--trust-domain", "shop.example"]);
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            using var given = X509Certificate2.CreateFromPem(rootPem);
            using var kept = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(cp.DataDir, "ca", "root.crt")));
            Assert.Equal(given.Thumbprint, kept.Thumbprint);

            var caller = await mesh.StartServiceAsync("productpage", "productpage-1", "--ca-cert", Path.Combine(dir, "root.crt"));
            await mesh.StartServiceAsync("ratings", "ratings-1", "--ca-cert", Path.Combine(dir, "root.crt"));
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "ratings routable");
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(caller, "ratings", "/r")).Status);
            using var workload = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(caller.DataDir, "identity", "cert.pem")));
            Assert.Equal(given.Subject, workload.Issuer);
            Assert.True(caller.Process.HasLogged("Workload certificate for spiffe://shop.example/ns/default/sa/productpage"), "the identity is in the configured trust domain");
            Assert.False(caller.Process.HasLogged("Pinned control-plane root"), "with --ca-cert nothing is pinned on first use");
        });
    }

    [Fact]
    public async Task Caller_RefusesAServerWithAnotherServicesIdentity()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");

            // A real mesh workload of reviews (a valid certificate from the mesh root) listens on a port...
            using var root = TestCertificates.MeshRoot(cp);
            using var reviewsCert = TestCertificates.Workload(root, TestCertificates.Spiffe("reviews"), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
            var roguePort = FreePorts.Next();
            var reached = 0;
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, roguePort, l =>
            {
                l.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2;
                l.UseHttps(reviewsCert, o => { o.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.AllowCertificate; o.AllowAnyClientCertificate(); });
            }));
            await using var rogue = builder.Build();
            rogue.Run(context => { Interlocked.Increment(ref reached); return context.Response.WriteAsync("rogue"); });
            await rogue.StartAsync();

            // ...and its address gets into the registry as an instance of ratings (registered with a ratings certificate).
            using var anonymous = TestCertificates.Client(null, HttpVersion.Version20);
            var (_, _, ratingsCert) = await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("ratings"), await File.ReadAllTextAsync(mesh.JoinTokenFile));
            using var asRatings = TestCertificates.Client(ratingsCert, HttpVersion.Version20);
            using var stop = new CancellationTokenSource();
            var registering = Task.Run(async () =>
            {
                var registration = new { instanceId = "ratings-rogue", service = "ratings", @namespace = "default", address = "127.0.0.1", port = roguePort, labels = new Dictionary<string, string>(), health = "Healthy" };
                while (!stop.IsCancellationRequested)
                {
                    using var response = await asRatings.PostAsJsonAsync(new Uri(cp.SidecarApi, "/v1/register"), registration);
                    response.EnsureSuccessStatusCode();
                    await Task.Delay(500);
                }
            });
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.Contains("ratings-rogue"), TimeSpan.FromSeconds(20), () => "the rogue endpoint is in the caller's routing set");

            var (status, _, _) = await mesh.CallAsync(caller, "ratings", "/r");
            stop.Cancel();
            await registering;
            Assert.Equal(HttpStatusCode.BadGateway, status);
            Assert.Equal(0, Volatile.Read(ref reached));
            await Eventually.TrueAsync(() => Task.FromResult(caller.Process.HasLogged("server identity spiffe://cluster.local/ns/default/sa/reviews is not the expected service default/ratings")), TimeSpan.FromSeconds(5), () => "the caller logs why it refused the server");
        });
    }

    [Fact]
    public async Task Sidecar_WithoutAJoinToken_IsNotReadyAndSaysHowToGetOne()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            mesh.UseJoinToken = false;
            var sidecar = mesh.StartSidecar("reviews", "tokenless", FreePorts.Next());
            var ready = await Eventually.ValueAsync(async () =>
                {
                    using var response = await mesh.Http.GetAsync(new Uri(sidecar.Admin, "/ready"));
                    return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
                },
                r => r.StatusCode == HttpStatusCode.ServiceUnavailable && r.Body.Contains("join token", StringComparison.Ordinal),
                TimeSpan.FromSeconds(20), () => "/ready says a join token is missing");
            Assert.Contains("meshctl join-token create --service reviews", ready.Body, StringComparison.Ordinal);
            await Eventually.TrueAsync(() => Task.FromResult(sidecar.Process.HasLogged("a join token is needed for the first workload certificate")), TimeSpan.FromSeconds(5), () => "the sidecar logs it");
            Assert.False(File.Exists(Path.Combine(sidecar.DataDir, "identity", "cert.pem")));
        });
    }

    /// <summary>The caller and the service most tests here call, once the caller can route to it.</summary>
    private static async Task<(Sidecar Caller, Sidecar Ratings)> StartProductpageAndRatingsAsync(MeshCluster mesh)
    {
        var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
        var ratings = await mesh.StartServiceAsync("ratings", "ratings-1");
        await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "ratings routable");
        return (caller, ratings);
    }
}
