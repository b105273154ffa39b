using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Istio routing with real sidecars. The YAML is written the way Istio's Bookinfo tasks write it
/// (request routing, traffic shifting, fault injection, request timeouts), apiVersions and deprecated
/// forms included, and what the calling app sees is checked against what Istio documents.
/// </summary>
public sealed class RoutingTests
{
    private const string DestinationRuleAll = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: productpage
        spec:
          host: productpage
          subsets:
          - name: v1
            labels:
              version: v1
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          subsets:
          - name: v1
            labels:
              version: v1
          - name: v2
            labels:
              version: v2
          - name: v3
            labels:
              version: v3
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: ratings
        spec:
          host: ratings
          subsets:
          - name: v1
            labels:
              version: v1
          - name: v2
            labels:
              version: v2
        """;

    private static string ReviewsRoute(string http) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts:
            - reviews
          http:
        {http}
        """;

    [Fact]
    public async Task BookinfoTasks_RequestRoutingShiftingFaultsAndTimeouts_BehaveAsIstioDocuments()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var productpage = await mesh.StartServiceAsync("productpage", "productpage-v1", "--label", "version=v1");
            var reviews = new Dictionary<string, Sidecar>();
            foreach (var version in new[] { "v1", "v2", "v3" })
            {
                reviews[version] = await mesh.StartServiceAsync("reviews", "reviews-" + version, "--label", "version=" + version);
            }
            await mesh.StartServiceAsync("ratings", "ratings-v1", "--label", "version=v1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(productpage, "reviews.default"), e => e.Length == 3, TimeSpan.FromSeconds(20), () => "three reviews instances");
            await mesh.ApplyConfigAsync("destination-rule-all.yaml", DestinationRuleAll);

            // Request routing: all traffic to v1, then jason to v2.
            await mesh.ApplyConfigAsync("virtual-service-reviews.yaml", ReviewsRoute("""
                  - route:
                    - destination:
                        host: reviews
                        subset: v1
                """));
            Assert.Equal(["reviews-v1"], await AnsweredByAsync(mesh, productpage, 30));
            await mesh.ApplyConfigAsync("virtual-service-reviews.yaml", """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: reviews
                spec:
                  hosts:
                    - reviews
                  http:
                  - match:
                    - headers:
                        end-user:
                          exact: jason
                    route:
                    - destination:
                        host: reviews
                        subset: v2
                  - route:
                    - destination:
                        host: reviews
                        subset: v1
                """);
            Assert.Equal(["reviews-v2"], await AnsweredByAsync(mesh, productpage, 20, r => r.Headers.Add("end-user", "jason")));
            Assert.Equal(["reviews-v1"], await AnsweredByAsync(mesh, productpage, 20, r => r.Headers.Add("end-user", "someone-else")));
            Assert.Equal(["reviews-v1"], await AnsweredByAsync(mesh, productpage, 20));

            // Traffic shifting: 80/20 and 50/50 between v1 and v3, over 400 calls each; the tolerance is 4.5 sigma.
            foreach (var (v1, v3) in new[] { (80, 20), (50, 50) })
            {
                await mesh.ApplyConfigAsync("virtual-service-reviews.yaml", ReviewsRoute($"""
                      - route:
                        - destination:
                            host: reviews
                            subset: v1
                          weight: {v1}
                        - destination:
                            host: reviews
                            subset: v3
                          weight: {v3}
                    """));
                const int n = 400;
                var counts = new Dictionary<string, int>();
                for (var i = 0; i < n; i++)
                {
                    var (status, _, response) = await mesh.CallAsync(productpage, "reviews", "/reviews/0");
                    Assert.Equal(HttpStatusCode.OK, status);
                    var app = response.Headers.GetValues("x-app").Single();
                    counts[app] = counts.GetValueOrDefault(app) + 1;
                }
                Assert.Equal(["reviews-v1", "reviews-v3"], counts.Keys.Order(StringComparer.Ordinal));
                var p = v3 / 100.0;
                var tolerance = 4.5 * Math.Sqrt(n * p * (1 - p));
                Assert.True(Math.Abs(counts["reviews-v3"] - n * p) <= tolerance, $"{v1}/{v3}: v3 answered {counts["reviews-v3"]} of {n}, expected {n * p} ± {tolerance:F0}");
            }

            // Fault injection, delay (the deprecated integer 'percent' form the Bookinfo sample still uses).
            await mesh.ApplyConfigAsync("virtual-service-ratings.yaml", """
                apiVersion: networking.istio.io/v1alpha3
                kind: VirtualService
                metadata:
                  name: ratings
                spec:
                  hosts:
                  - ratings
                  http:
                  - match:
                    - headers:
                        end-user:
                          exact: jason
                    fault:
                      delay:
                        percent: 100
                        fixedDelay: 2s
                    route:
                    - destination:
                        host: ratings
                        subset: v1
                  - route:
                    - destination:
                        host: ratings
                        subset: v1
                """);
            var delayed = await TimedCallAsync(mesh, productpage, "ratings", "/ratings/0", r => r.Headers.Add("end-user", "jason"));
            var undelayed = await TimedCallAsync(mesh, productpage, "ratings", "/ratings/0", _ => { });
            Assert.Equal(HttpStatusCode.OK, delayed.Status);
            Assert.True(delayed.Elapsed >= TimeSpan.FromMilliseconds(1900), $"jason's call took {delayed.Elapsed}, the fault delays it 2 s");
            Assert.Equal(HttpStatusCode.OK, undelayed.Status);
            Assert.True(undelayed.Elapsed < TimeSpan.FromMilliseconds(1900), $"another user's call took {undelayed.Elapsed}; it must not be delayed");

            // Fault injection, abort (again the deprecated integer 'percent', as the Bookinfo sample has it).
            await mesh.ApplyConfigAsync("virtual-service-ratings.yaml", """
                apiVersion: networking.istio.io/v1alpha3
                kind: VirtualService
                metadata:
                  name: ratings
                spec:
                  hosts:
                  - ratings
                  http:
                  - match:
                    - headers:
                        end-user:
                          exact: jason
                    fault:
                      abort:
                        percent: 100
                        httpStatus: 500
                    route:
                    - destination:
                        host: ratings
                        subset: v1
                  - route:
                    - destination:
                        host: ratings
                        subset: v1
                """);
            var aborted = await mesh.SendAsync(productpage, "ratings", "/ratings/0", r => r.Headers.Add("end-user", "jason"));
            Assert.Equal(HttpStatusCode.InternalServerError, aborted.Status);
            Assert.Equal("fault filter abort", aborted.Body);
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(productpage, "ratings", "/ratings/0")).Status);

            // Request timeouts: reviews v2 with a 0.5 s timeout; a slow answer becomes 504 in about that time.
            await mesh.ApplyConfigAsync("virtual-service-reviews.yaml", ReviewsRoute("""
                  - route:
                    - destination:
                        host: reviews
                        subset: v2
                    timeout: 0.5s
                """));
            var slow = await TimedCallAsync(mesh, productpage, "reviews", "/delay/3000", _ => { });
            Assert.Equal(HttpStatusCode.GatewayTimeout, slow.Status);
            Assert.Equal("upstream request timeout\n", slow.Body);
            Assert.InRange(slow.Elapsed, TimeSpan.FromMilliseconds(450), TimeSpan.FromMilliseconds(2900));
            Assert.Equal(HttpStatusCode.OK, (await TimedCallAsync(mesh, productpage, "reviews", "/delay/10", _ => { })).Status);
        });
    }

    [Fact]
    public async Task RouteActions_HeadersRewriteRedirectDirectResponseAndMirror_ReachTheApp()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-v1");
            var v1 = await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
            var v2 = await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 2, TimeSpan.FromSeconds(20), () => "two reviews instances");
            var sticky = DestinationRuleAll.Replace("  host: reviews\n", "  host: reviews\n  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n        httpHeaderName: x-user\n", StringComparison.Ordinal);
            await mesh.ApplyConfigAsync("reviews.yaml", sticky + "\n---\n" + ReviewsRoute("""
                  - name: sticky
                    match:
                    - uri:
                        prefix: /sticky
                    route:
                    - destination:
                        host: reviews
                  - name: moved
                    match:
                    - uri:
                        prefix: /old-api
                    redirect:
                      uri: /api
                      authority: reviews.default.svc.cluster.local
                  - name: gone
                    match:
                    - uri:
                        exact: /teapot
                    directResponse:
                      status: 418
                      body:
                        string: "short and stout"
                  - name: nowhere
                    match:
                    - uri:
                        prefix: /nowhere
                    route:
                    - destination:
                        host: reviews
                        subset: v3
                  - name: legacy
                    match:
                    - uri:
                        prefix: /legacy/
                    rewrite:
                      uri: /
                    headers:
                      request:
                        set:
                          x-route: legacy
                        add:
                          x-tag: added
                        remove:
                        - x-secret
                      response:
                        set:
                          x-served-via: mesh
                        remove:
                        - x-seen-host
                    route:
                    - destination:
                        host: reviews
                        subset: v1
                      headers:
                        request:
                          set:
                            x-subset: v1
                    mirror:
                      host: reviews
                      subset: v2
                    mirrorPercentage:
                      value: 100.0
                """));

            // consistentHash by header: each user sticks to one instance; different users spread over both.
            var byUser = new Dictionary<string, HashSet<string>>();
            for (var user = 0; user < 12; user++)
            {
                for (var i = 0; i < 4; i++)
                {
                    var call = await mesh.SendAsync(caller, "reviews", "/sticky", r => r.Headers.Add("x-user", $"user-{user}"));
                    Assert.Equal(HttpStatusCode.OK, call.Status);
                    (byUser.TryGetValue($"user-{user}", out var set) ? set : byUser[$"user-{user}"] = []).Add(call.Response.Headers.GetValues("x-app").Single());
                }
            }
            Assert.All(byUser, u => Assert.Single(u.Value));
            Assert.Equal(["reviews-v1", "reviews-v2"], byUser.Values.SelectMany(v => v).Distinct().Order(StringComparer.Ordinal));

            var redirect = await mesh.SendAsync(caller, "reviews", "/old-api/books?id=1", _ => { });
            Assert.Equal(HttpStatusCode.MovedPermanently, redirect.Status);
            Assert.Equal("http://reviews.default.svc.cluster.local/api?id=1", redirect.Response.Headers.Location!.ToString());

            var teapot = await mesh.SendAsync(caller, "reviews", "/teapot", _ => { });
            Assert.Equal((HttpStatusCode)418, teapot.Status);
            Assert.Equal("short and stout", teapot.Body);

            // Subset v3 has no instance: the sidecar says so at once (and the rules after it still route).
            var nowhere = await mesh.SendAsync(caller, "reviews", "/nowhere", _ => { });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, nowhere.Status);
            Assert.Equal("no-healthy-endpoint", nowhere.Response.Headers.GetValues("x-mesh-error").Single());
            Assert.Contains("(subset v3)", nowhere.Body, StringComparison.Ordinal);

            var legacy = await mesh.SendAsync(caller, "reviews", "/legacy/books/7", r =>
            {
                r.Headers.Add("x-secret", "hunter2");
                r.Headers.Add("x-tag", "original");
            });
            Assert.Equal(HttpStatusCode.OK, legacy.Status);
            Assert.Equal("reviews-v1 GET /books/7", legacy.Body); // prefix /legacy/ rewritten to /
            var headers = legacy.Response.Headers;
            Assert.Equal("legacy", headers.GetValues("x-echo-route").Single());
            Assert.Equal("v1", headers.GetValues("x-echo-subset").Single());
            Assert.Equal(["original", "added"], headers.GetValues("x-echo-tag").SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)));
            Assert.False(headers.Contains("x-echo-secret"), "x-secret was removed before the app");
            Assert.Equal("mesh", headers.GetValues("x-served-via").Single());
            Assert.False(headers.Contains("x-seen-host"), "response header removed");

            // The mirror copy reached v2 with the "-shadow" host; its answer was dropped.
            await Eventually.TrueAsync(async () => (await mesh.Http.GetStringAsync($"http://127.0.0.1:{v2.AppPort}/admin/requests")).Contains("reviews-shadow GET /books/7", StringComparison.Ordinal),
                TimeSpan.FromSeconds(10), () => "v2 saw the mirrored request");
            Assert.Contains("GET /books/7", await mesh.Http.GetStringAsync($"http://127.0.0.1:{v1.AppPort}/admin/requests"), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task SourceLabels_OnlyCallersAtV2_GoToTheNewBackend()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
            await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
            var callerV1 = await mesh.StartServiceAsync("productpage", "productpage-v1", "--label", "version=v1");
            var callerV2 = await mesh.StartServiceAsync("productpage", "productpage-v2", "--label", "version=v2");
            await mesh.ApplyConfigAsync("canary.yaml", """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: reviews}
                spec:
                  hosts: [reviews]
                  http:
                  - match:
                    - sourceLabels: {version: v2}
                    route:
                    - destination: {host: reviews, subset: v2}
                  - route:
                    - destination: {host: reviews, subset: v1}
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: reviews}
                spec:
                  host: reviews
                  subsets:
                  - {name: v1, labels: {version: v1}}
                  - {name: v2, labels: {version: v2}}
                """);
            for (var i = 0; i < 10; i++)
            {
                Assert.StartsWith("reviews-v2 ", (await mesh.CallAsync(callerV2, "reviews", "/r")).Body, StringComparison.Ordinal);
                Assert.StartsWith("reviews-v1 ", (await mesh.CallAsync(callerV1, "reviews", "/r")).Body, StringComparison.Ordinal);
            }
        });
    }

    [Fact]
    public async Task ServiceEntry_StaticAndDns_LetAMeshAppCallAnExternalApiThroughItsSidecar()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-v1");
            var (paymentsPort, weatherPort) = (FreePorts.Next(), FreePorts.Next());
            mesh.StartApp("payments-external", paymentsPort);
            mesh.StartApp("weather-external", weatherPort);
            foreach (var port in new[] { paymentsPort, weatherPort })
            {
                await Eventually.TrueAsync(async () => (await mesh.Http.GetAsync($"http://127.0.0.1:{port}/health")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), () => $"external app on {port}");
            }
            await mesh.ApplyConfigAsync("external.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: payments
                spec:
                  hosts:
                  - payments.example.com
                  location: MESH_EXTERNAL
                  ports:
                  - number: 80
                    name: http
                    protocol: HTTP
                  resolution: STATIC
                  endpoints:
                  - address: 127.0.0.1
                    ports:
                      http: {{paymentsPort}}
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: weather
                spec:
                  hosts:
                  - api.weather.test
                  ports:
                  - number: {{weatherPort}}
                    name: http
                    protocol: HTTP
                  resolution: DNS
                  endpoints:
                  - address: localhost
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: weather
                spec:
                  hosts:
                  - api.weather.test
                  http:
                  - timeout: 3s
                    headers:
                      request:
                        set:
                          x-api-key: from-the-mesh
                    route:
                    - destination:
                        host: api.weather.test
                """);

            var payment = await mesh.CallAsync(caller, "payments.example.com", "/charge");
            Assert.Equal(HttpStatusCode.OK, payment.Status);
            Assert.Equal("payments-external GET /charge", payment.Body);
            Assert.Equal("payments.example.com", payment.Response.Headers.GetValues("x-seen-host").Single());

            var weather = await mesh.CallAsync(caller, "api.weather.test", "/today");
            Assert.Equal(HttpStatusCode.OK, weather.Status);
            Assert.Equal("weather-external GET /today", weather.Body);
            Assert.Equal("from-the-mesh", weather.Response.Headers.GetValues("x-echo-api-key").Single());

            // A host no ServiceEntry or registry knows is not routed (Istio's REGISTRY_ONLY).
            Assert.Equal(HttpStatusCode.NotFound, (await mesh.CallAsync(caller, "unknown.example.com", "/")).Status);
        });
    }

    [Fact]
    public async Task Locality_CallsStayInTheCallersZone_AndFailOverZoneThenRegion()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1", "--region", "us-east", "--zone", "a");
            var sameZone = await mesh.StartServiceAsync("reviews", "reviews-east-a", "--region", "us-east", "--zone", "a");
            var otherZone = await mesh.StartServiceAsync("reviews", "reviews-east-b", "--region", "us-east", "--zone", "b");
            await mesh.StartServiceAsync("reviews", "reviews-west-a", "--region", "us-west", "--zone", "a");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 3, TimeSpan.FromSeconds(20), () => "three reviews instances");
            // As in Istio, locality load balancing is on only with outlier detection.
            await mesh.ApplyConfigAsync("reviews.yaml", """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: reviews
                spec:
                  host: reviews
                  trafficPolicy:
                    outlierDetection:
                      consecutive5xxErrors: 5
                      interval: 1s
                      baseEjectionTime: 30s
                """);

            Assert.Equal(["reviews-east-a"], await AnsweredByAsync(mesh, caller, 30));

            // The same-zone instance fails its health check: traffic moves to the same region's other zone.
            await mesh.Http.PostAsync($"http://127.0.0.1:{sameZone.AppPort}/admin/health/down", null);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 2, TimeSpan.FromSeconds(20), () => "east-a out of the routing set");
            Assert.Equal(["reviews-east-b"], await AnsweredByAsync(mesh, caller, 30));

            // The whole region is gone (SIGKILL, lease expiry): the other region takes the calls.
            otherZone.Process.Kill();
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 1, MeshCluster.LeaseTtl + TimeSpan.FromSeconds(15), () => "east-b expired");
            Assert.Equal(["reviews-west-a"], await AnsweredByAsync(mesh, caller, 20));

            // East-a recovers: calls come home.
            await mesh.Http.PostAsync($"http://127.0.0.1:{sameZone.AppPort}/admin/health/up", null);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 2, TimeSpan.FromSeconds(20), () => "east-a back");
            Assert.Equal(["reviews-east-a"], await AnsweredByAsync(mesh, caller, 20));
        });
    }

    [Fact]
    public async Task RejectedChange_KeepsRunningRouting_AndValidateReportsEveryErrorWithItsPosition()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-v1");
            await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
            await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
            await mesh.ApplyConfigAsync("reviews.yaml", DestinationRuleAll + "\n---\n" + ReviewsRoute("""
                  - route:
                    - destination:
                        host: reviews
                        subset: v2
                """));
            Assert.Equal(["reviews-v2"], await AnsweredByAsync(mesh, caller, 10));
            var version = await mesh.ConfigVersionAsync();
            const string broken = """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: reviews
                spec:
                  hosts:
                  - reviews
                  http:
                  - route:
                    - destination:
                        host: reviews
                        subset: v1
                      weight: 70
                    - destination:
                        host: reviews
                        subset: v9
                      weight: 20
                    timeout: soon
                """;

            // Checked before applying: POST /v1/validate answers 422 with every error and its position.
            using var response = await mesh.Http.PostAsync(new Uri(mesh.ControlPlane!.Admin, "/v1/validate?file=reviews.yaml"), new StringContent(broken, Encoding.UTF8));
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            using var report = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var errors = report.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToArray();
            Assert.False(report.RootElement.GetProperty("valid").GetBoolean());
            Assert.Contains(errors, e => e.StartsWith("reviews.yaml:10:", StringComparison.Ordinal) && e.Contains("route weights sum to 90", StringComparison.Ordinal));
            Assert.Contains(errors, e => e.StartsWith("reviews.yaml:16:", StringComparison.Ordinal) && e.Contains("subset 'v9'", StringComparison.Ordinal));
            Assert.Contains(errors, e => e.StartsWith("reviews.yaml:18:", StringComparison.Ordinal) && e.Contains("soon", StringComparison.Ordinal));
            Assert.Equal(version, await mesh.ConfigVersionAsync()); // validating applies nothing

            // Written anyway: rejected, the running config and the sidecar's routing stay as they were.
            mesh.WriteConfig("reviews.yaml", broken);
            await Eventually.TrueAsync(() => Task.FromResult(mesh.ControlPlane.Process.HasLogged("subset 'v9'")), TimeSpan.FromSeconds(20), () => "the control plane logged the rejection");
            Assert.Equal(version, await mesh.ConfigVersionAsync());
            Assert.Equal(["reviews-v2"], await AnsweredByAsync(mesh, caller, 10));

            // meshctl validate: offline (same loader and validator) and against the running control plane.
            var file = Path.Combine(mesh.Root, "proposed", "reviews.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(file, DestinationRuleAll + "\n---\n" + broken);
            await using (var offline = MeshProcess.StartDll("meshctl validate", RepoPaths.MeshctlDll, ["validate", Path.GetDirectoryName(file)!]))
            {
                Assert.Equal(1, await offline.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                Assert.True(offline.HasLogged("reviews.yaml:58:17: spec.http[0].route[1].destination.subset:") && offline.HasLogged("subset 'v9'"), offline.Output);
                Assert.True(offline.HasLogged("invalid: 3 error(s)"), offline.Output);
            }
            await using (var remote = MeshProcess.StartDll("meshctl validate --remote", RepoPaths.MeshctlDll,
                ["--admin", mesh.ControlPlane.Admin.ToString(), "--token-file", Path.Combine(mesh.ControlPlane.DataDir, "admin-token"), "validate", "--remote", file]))
            {
                Assert.Equal(1, await remote.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                Assert.True(remote.HasLogged("subset 'v9'") && remote.HasLogged("invalid: 3 error(s)"), remote.Output);
            }

            // A valid file through the same endpoint is 200.
            using var ok = await mesh.Http.PostAsync(new Uri(mesh.ControlPlane.Admin, "/v1/validate?file=reviews.yaml"),
                new StringContent(DestinationRuleAll + "\n---\n" + ReviewsRoute("  - route:\n    - destination:\n        host: reviews\n        subset: v1"), Encoding.UTF8));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        });
    }

    [Fact]
    public async Task ApplyAndDelete_LikeKubectl_ReplaceTheDirectorysResource_AndSurviveARestart()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-v1");
            await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
            await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
            await mesh.ApplyConfigAsync("reviews.yaml", DestinationRuleAll + "\n---\n" + ReviewsRoute("  - route:\n    - destination:\n        host: reviews\n        subset: v1"));
            Assert.Equal(["reviews-v1"], await AnsweredByAsync(mesh, caller, 10));

            // meshctl apply -f: the same VirtualService name as the directory's, so it replaces it.
            var file = Path.Combine(mesh.Root, "virtual-service-reviews-v2.yaml");
            File.WriteAllText(file, "# routed by a test\n" + ReviewsRoute("  - route:\n    - destination:\n        host: reviews\n        subset: v2"));
            var before = await mesh.ConfigVersionAsync();
            await using (var apply = MeshProcess.StartDll("meshctl apply", RepoPaths.MeshctlDll, ["--admin", mesh.ControlPlane!.Admin.ToString(), "--token-file", Path.Combine(mesh.ControlPlane.DataDir, "admin-token"), "apply", "-f", file]))
            {
                Assert.Equal(0, await apply.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                Assert.True(apply.HasLogged("VirtualService default/reviews configured"), apply.Output);
            }
            Assert.Equal(before + 1, await mesh.ConfigVersionAsync());
            await Eventually.ValueAsync(() => AnsweredByAsync(mesh, caller, 5), a => a.SequenceEqual(["reviews-v2"]), TimeSpan.FromSeconds(20), () => "v2 after apply");

            // A bad apply is refused whole, with positions in the posted file, and changes nothing.
            using var bad = await mesh.Http.PostAsync(new Uri(mesh.ControlPlane.Admin, "/v1/apply?file=bad.yaml"),
                new StringContent(ReviewsRoute("  - route:\n    - destination:\n        host: reviews\n        subset: v9"), Encoding.UTF8));
            Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
            var badReport = await bad.Content.ReadAsStringAsync();
            Assert.True(badReport.Contains("bad.yaml:", StringComparison.Ordinal) && badReport.Contains("spec.http[0].route[0].destination.subset: subset 'v9'", StringComparison.Ordinal), badReport);
            Assert.Equal(before + 1, await mesh.ConfigVersionAsync());

            // Applied resources live in the data dir: a control-plane restart keeps them.
            await mesh.RestartControlPlaneAsync();
            Assert.Equal(before + 1, await mesh.ConfigVersionAsync());
            Assert.Equal(["reviews-v2"], await AnsweredByAsync(mesh, caller, 10));

            // Deleting what the directory defines is refused; deleting the applied one brings the directory's back.
            using var refused = await mesh.Http.PostAsync(new Uri(mesh.ControlPlane.Admin, "/v1/delete?file=reviews.yaml"), new StringContent(DestinationRuleAll, Encoding.UTF8));
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
            Assert.Contains("was not applied through the API", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            using var deleted = await mesh.Http.PostAsync(new Uri(mesh.ControlPlane.Admin, "/v1/delete?file=v2.yaml"), new StringContent(File.ReadAllText(file), Encoding.UTF8));
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
            await Eventually.ValueAsync(() => AnsweredByAsync(mesh, caller, 5), a => a.SequenceEqual(["reviews-v1"]), TimeSpan.FromSeconds(20), () => "v1 after delete");
        });
    }

    /// <summary>Which instances answered <paramref name="count"/> calls to reviews (all must succeed).</summary>
    private static async Task<string[]> AnsweredByAsync(MeshCluster mesh, Sidecar from, int count, Action<HttpRequestMessage>? configure = null)
    {
        var answered = new HashSet<string>();
        for (var i = 0; i < count; i++)
        {
            var (status, body, response) = await mesh.SendAsync(from, "reviews", "/reviews/0", configure ?? (_ => { }));
            Assert.True(status == HttpStatusCode.OK, $"call {i}: {(int)status} {body}");
            answered.Add(response.Headers.GetValues("x-app").Single());
        }
        return answered.Order(StringComparer.Ordinal).ToArray();
    }

    private static async Task<(HttpStatusCode Status, string Body, TimeSpan Elapsed)> TimedCallAsync(MeshCluster mesh, Sidecar from, string host, string path, Action<HttpRequestMessage> configure)
    {
        var started = Stopwatch.StartNew();
        var (status, body, _) = await mesh.SendAsync(from, host, path, configure);
        return (status, body, started.Elapsed);
    }
}
