using System.Net;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The Istio Sidecar resource with real processes: a control plane, sidecars with mutual TLS and their apps.
/// A Sidecar scopes what its workloads' sidecars hold and may call; everyone else still sees everything.
/// </summary>
public sealed class SidecarScopeTests
{
    private static string FrontendSidecar(string hosts, string mode = "REGISTRY_ONLY") => $$"""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata: {name: frontend, namespace: default}
        spec:
          workloadSelector:
            labels: {app: frontend}
          egress:
          - hosts: {{hosts}}
          outboundTrafficPolicy: {mode: {{mode}}}
        """;

    private static async Task<JsonElement> ConfigDumpAsync(MeshCluster mesh, Sidecar sidecar) =>
        JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(sidecar.Admin, "/config_dump"))).RootElement;

    private static async Task<string[]> ClusterNamesAsync(MeshCluster mesh, Sidecar sidecar)
    {
        using var doc = JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(sidecar.Admin, "/clusters")));
        return doc.RootElement.EnumerateArray().Select(c => c.GetProperty("cluster").GetString()!).ToArray();
    }

    [Fact]
    public async Task SidecarResource_HidesAServiceFromItsWorkloads_OthersStillReachIt_AndAnEditBringsItBack()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            await mesh.StartServiceAsync("reviews", "reviews-1");
            await mesh.StartServiceAsync("ratings", "ratings-1");
            var frontend = await mesh.StartServiceAsync("frontend", "frontend-1");
            var productpage = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.ApplyConfigAsync("scope.yaml", FrontendSidecar("[\"./reviews.default.svc.cluster.local\"]"));

            var reviews = await mesh.CallAsync(frontend, "reviews", "/r");
            Assert.Equal(HttpStatusCode.OK, reviews.Status);
            Assert.StartsWith("reviews-1 ", reviews.Body, StringComparison.Ordinal);
            var hidden = await mesh.CallAsync(frontend, "ratings", "/r");
            Assert.Equal(HttpStatusCode.NotFound, hidden.Status);
            Assert.Equal("not-in-sidecar-scope", hidden.Response.Headers.GetValues("x-mesh-error").Single());
            Assert.Contains("outside this workload's Sidecar default/frontend", hidden.Body);
            // Another caller, whom no Sidecar scopes, still reaches it.
            var unscoped = await mesh.CallAsync(productpage, "ratings", "/r");
            Assert.Equal(HttpStatusCode.OK, unscoped.Status);
            Assert.StartsWith("ratings-1 ", unscoped.Body, StringComparison.Ordinal);

            // What the scoped sidecar holds: no trace of ratings, and the scope it was cut by.
            var dump = await ConfigDumpAsync(mesh, frontend);
            var held = dump.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("service").GetString()!).ToArray();
            Assert.Equal(["reviews"], held);
            Assert.Equal("default/frontend", dump.GetProperty("scope").GetProperty("sidecar").GetString());
            Assert.DoesNotContain("ratings", dump.GetRawText(), StringComparison.Ordinal);
            Assert.DoesNotContain(await ClusterNamesAsync(mesh, frontend), c => c.StartsWith("ratings", StringComparison.Ordinal));
            Assert.Contains(await ClusterNamesAsync(mesh, productpage), c => c.StartsWith("ratings", StringComparison.Ordinal));
            var everything = (await ConfigDumpAsync(mesh, productpage)).GetProperty("instances").GetArrayLength();
            Assert.Equal(4, everything);

            // An instance registered later inside the scope arrives (as a delta within the scope); one outside does not.
            await mesh.StartServiceAsync("reviews", "reviews-2");
            await mesh.StartServiceAsync("ratings", "ratings-2");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(frontend, "reviews.default"), e => e.Length == 2, TimeSpan.FromSeconds(20),
                () => "frontend did not get reviews-2");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(productpage, "ratings.default"), e => e.Length == 2, TimeSpan.FromSeconds(20),
                () => "productpage did not get ratings-2");
            Assert.Empty(await mesh.EndpointsAsync(frontend, "ratings.default"));

            // A bad Sidecar is refused with every error at its line, and the running scope stays as it was.
            var version = await mesh.ConfigVersionAsync();
            mesh.WriteConfig("scope.yaml", FrontendSidecar("[reviews, \"./*\"]") + "\n  ingress: [{port: {number: 9080, protocol: HTTP, name: http}}]\n");
            using var reload = await mesh.Http.PostAsync(new Uri(mesh.ControlPlane!.Admin, "/v1/config/reload"), null);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, reload.StatusCode);
            var errors = JsonDocument.Parse(await reload.Content.ReadAsStringAsync()).RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToArray();
            Assert.Equal(2, errors.Length);
            Assert.Contains(errors, e => e.StartsWith("scope.yaml:8:", StringComparison.Ordinal) && e.Contains("'reviews' must be namespace/dnsName", StringComparison.Ordinal));
            Assert.Contains(errors, e => e.StartsWith("scope.yaml:10:", StringComparison.Ordinal) && e.Contains("'ingress' is not implemented by Mesh", StringComparison.Ordinal));
            Assert.Equal(version, await mesh.ConfigVersionAsync());
            Assert.Equal("not-in-sidecar-scope", (await mesh.CallAsync(frontend, "ratings", "/r")).Response.Headers.GetValues("x-mesh-error").Single());

            // The edit widens the scope: the sidecar gets everything it now needs, live.
            await mesh.ApplyConfigAsync("scope.yaml", FrontendSidecar("[\"./*\"]"));
            var back = await mesh.CallAsync(frontend, "ratings", "/r");
            Assert.Equal(HttpStatusCode.OK, back.Status);
            Assert.StartsWith("ratings-", back.Body, StringComparison.Ordinal);
            Assert.Equal(["ratings-1", "ratings-2"], await mesh.EndpointsAsync(frontend, "ratings.default"));

            // And without any Sidecar resource, everything is visible again (the default, as in Istio).
            File.Delete(Path.Combine(mesh.ConfigDir, "scope.yaml"));
            await Eventually.ValueAsync(() => ConfigDumpAsync(mesh, frontend), d => !d.TryGetProperty("scope", out _), TimeSpan.FromSeconds(20),
                () => "frontend kept its scope after the Sidecar was deleted");
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(frontend, "ratings", "/r")).Status);
        });
    }

    [Fact]
    public async Task OutboundTrafficPolicy_RegistryOnlyAnswers404_AllowAnyPassesThroughToTheNamedHost()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            await mesh.StartServiceAsync("reviews", "reviews-1");
            var frontend = await mesh.StartServiceAsync("frontend", "frontend-1");
            var productpage = await mesh.StartServiceAsync("productpage", "productpage-1");
            var externalPort = FreePorts.Next();
            mesh.StartApp("outside-1", externalPort);
            await Eventually.TrueAsync(async () => (await mesh.Http.GetAsync($"http://127.0.0.1:{externalPort}/health")).IsSuccessStatusCode,
                TimeSpan.FromSeconds(30), () => "the app outside the mesh did not start");
            var outside = $"127.0.0.1:{externalPort}";

            await mesh.ApplyConfigAsync("scope.yaml", FrontendSidecar("[\"./*\"]"));
            var refused = await mesh.CallAsync(frontend, outside, "/x");
            Assert.Equal(HttpStatusCode.NotFound, refused.Status);
            Assert.Equal("unknown-host", refused.Response.Headers.GetValues("x-mesh-error").Single());

            await mesh.ApplyConfigAsync("scope.yaml", FrontendSidecar("[\"./*\"]", mode: "ALLOW_ANY"));
            var passed = await mesh.CallAsync(frontend, outside, "/x");
            Assert.Equal(HttpStatusCode.OK, passed.Status);
            Assert.Equal($"outside-1 GET /x", passed.Body.Trim());
            // The mesh's own hosts are still routed through the mesh.
            Assert.StartsWith("reviews-1 ", (await mesh.CallAsync(frontend, "reviews", "/r")).Body, StringComparison.Ordinal);
            // A host naming the sidecar's own outbound port would loop: refused at the second pass.
            var loop = await mesh.CallAsync(frontend, $"127.0.0.1:{frontend.OutboundPort}", "/x");
            Assert.Equal(HttpStatusCode.LoopDetected, loop.Status);
            Assert.Equal("passthrough-loop", loop.Response.Headers.GetValues("x-mesh-error").Single());
            // A caller no Sidecar applies to keeps Mesh's default, REGISTRY_ONLY.
            var other = await mesh.CallAsync(productpage, outside, "/x");
            Assert.Equal(HttpStatusCode.NotFound, other.Status);
            Assert.Equal("unknown-host", other.Response.Headers.GetValues("x-mesh-error").Single());
        });
    }

    [Fact]
    public async Task RootNamespaceDefault_ScopesEverySidecarButNotTheGateway_AndANamespaceSidecarOverridesIt()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            await mesh.StartServiceAsync("catalog", "catalog-1");
            await mesh.StartServiceAsync("reviews", "reviews-1");
            var frontend = await mesh.StartServiceAsync("frontend", "frontend-1");
            var plain = FreePorts.Next();
            const string Edge = """
                apiVersion: networking.istio.io/v1
                kind: Gateway
                metadata: {name: edge}
                spec:
                  servers:
                  - port: {number: 8080, name: http, protocol: HTTP}
                    hosts: ["*"]
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: edge}
                spec:
                  hosts: ["*"]
                  gateways: [edge]
                  http:
                  - route: [{destination: {host: catalog}}]
                """;
            mesh.WriteConfig("edge.yaml", Edge);
            var gateway = mesh.StartSidecar("edge", "edge-1", 0, "--gateway", "edge", "--gateway-listen", "127.0.0.1", "--gateway-port", $"8080={plain}");
            await mesh.WaitReadyAsync(gateway);
            // The mesh-wide default: nothing visible to any sidecar of any namespace.
            await mesh.ApplyConfigAsync("mesh-default.yaml", """
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: default, namespace: istio-system}
                spec:
                  egress:
                  - hosts: ["~/*"]
                """);
            var hidden = await mesh.CallAsync(frontend, "catalog", "/c");
            Assert.Equal((HttpStatusCode.NotFound, "not-in-sidecar-scope"), (hidden.Status, hidden.Response.Headers.GetValues("x-mesh-error").Single()));
            Assert.Contains("Sidecar istio-system/default", hidden.Body);
            Assert.Equal(0, (await ConfigDumpAsync(mesh, frontend)).GetProperty("instances").GetArrayLength());
            // The gateway is never scoped: outside callers still reach catalog through it.
            var viaGateway = await Eventually.ValueAsync(async () =>
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{plain}/c"));
                    request.Headers.Host = "shop.example.com";
                    using var response = await mesh.Http.SendAsync(request);
                    return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
                }, r => r.StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(20), () => "the gateway routes to catalog");
            Assert.Equal("catalog-1 GET /c", viaGateway.Body);
            Assert.False((await ConfigDumpAsync(mesh, gateway)).TryGetProperty("scope", out _));

            // A Sidecar of the namespace takes precedence over the mesh-wide default.
            await mesh.ApplyConfigAsync("default-ns.yaml", """
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: default, namespace: default}
                spec:
                  egress:
                  - hosts: [./catalog.default.svc.cluster.local]
                """);
            Assert.StartsWith("catalog-1 ", (await mesh.CallAsync(frontend, "catalog", "/c")).Body, StringComparison.Ordinal);
            Assert.Equal("not-in-sidecar-scope", (await mesh.CallAsync(frontend, "reviews", "/r")).Response.Headers.GetValues("x-mesh-error").Single());
            Assert.Equal("default/default", (await ConfigDumpAsync(mesh, frontend)).GetProperty("scope").GetProperty("sidecar").GetString());
        });
    }
}
