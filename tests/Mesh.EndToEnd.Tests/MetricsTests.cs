using System.Net;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>Prometheus metrics and admin pages of real sidecars and a real control plane, as calls are made.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_CountCallsByDestinationAndStatus_InPrometheusTextFormat()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var details = await mesh.StartServiceAsync("details", "details-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "details.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "details routable");

            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(caller, "details", $"/details/{i}")).Status);
            }
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, (await mesh.CallAsync(caller, "details", "/status/503")).Status);
            }
            Assert.Equal(HttpStatusCode.NotFound, (await mesh.CallAsync(caller, "nowhere", "/")).Status);

            (string, string)[] outboundOk = [("direction", "outbound"), ("source", "productpage.default"), ("destination", "details.default"), ("status", "200")];
            var before = await ScrapeAsync(mesh, caller.Admin);
            Assert.Equal(5, before.Value("mesh_requests_total", outboundOk));
            Assert.Equal(5, before.Value("mesh_request_duration_milliseconds_count", outboundOk));
            Assert.Equal(5, before.Value("mesh_request_duration_milliseconds_bucket", [.. outboundOk, ("le", "+Inf")]));
            Assert.Equal(2, before.Value("mesh_requests_total", ("destination", "details.default"), ("status", "503")));
            Assert.Equal(1, before.Value("mesh_requests_total", ("destination", "nowhere"), ("status", "404"), ("mesh_error", "unknown-host")));
            // Istio's default retry policy (no VirtualService) retries a 503 twice: 5 + 2 × 3 attempts.
            Assert.Equal(11, before.Value("mesh_upstream_attempts_total", ("destination", "details.default")));
            Assert.Equal(4, before.Value("mesh_retries_total", ("destination", "details.default"), ("reason", "503")));
            Assert.True(before.Value("mesh_snapshot_version") >= 1, "the applied snapshot version is exported");

            // The callee's sidecar counts the same calls inbound.
            var inbound = await ScrapeAsync(mesh, details.Admin);
            Assert.Equal(5, inbound.Value("mesh_requests_total", ("direction", "inbound"), ("destination", "details.default"), ("status", "200")));

            // More calls move the counters by exactly that much.
            for (var i = 0; i < 3; i++)
            {
                await mesh.CallAsync(caller, "details", "/more");
            }
            var after = await ScrapeAsync(mesh, caller.Admin);
            Assert.Equal(8, after.Value("mesh_requests_total", outboundOk));

            // The control plane's own: registry, watches, pushes and propagation to acknowledgement.
            var controlPlane = await ScrapeAsync(mesh, cp.Admin);
            Assert.Equal(2, controlPlane.Value("mesh_cp_instances", ("health", "HEALTHY")));
            Assert.True(controlPlane.Value("mesh_cp_pushes_total") >= 2, "snapshots were pushed");
            Assert.True(controlPlane.Value("mesh_cp_watches") >= 1, "sidecars are watching");
            Assert.True(controlPlane.Value("mesh_cp_propagation_milliseconds_count") >= 1, "acknowledgements were timed");
            Assert.True(controlPlane.Value("mesh_cp_config_reloads_total", ("result", "accepted")) >= 1, "the config dir was loaded");
        });
    }

    [Fact]
    public async Task AdminPages_ShowEndpointsAndNeverAKeyOrToken()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var sidecar = await mesh.StartServiceAsync("reviews", "reviews-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(sidecar, "reviews.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "reviews routable");

            var dump = await mesh.Http.GetStringAsync(new Uri(sidecar.Admin, "/config_dump"));
            Assert.Contains("\"version\"", dump, StringComparison.Ordinal);
            Assert.DoesNotContain("PRIVATE KEY", dump, StringComparison.Ordinal);
            // Whatever secrets the sidecar keeps on disk (keys, tokens) must never show in the dump.
            foreach (var file in Directory.EnumerateFiles(sidecar.DataDir, "*", SearchOption.AllDirectories)
                         .Where(f => f.EndsWith(".key", StringComparison.Ordinal) || f.Contains("token", StringComparison.OrdinalIgnoreCase)))
            {
                var secret = (await File.ReadAllTextAsync(file)).Trim();
                Assert.DoesNotContain(secret, dump, StringComparison.Ordinal);
            }

            var clusters = await mesh.Http.GetStringAsync(new Uri(sidecar.Admin, "/clusters"));
            foreach (var field in new[] { "\"instance\": \"reviews-1\"", "\"health\"", "\"ejected\": false", "\"inFlight\": 0" })
            {
                Assert.Contains(field, clusters, StringComparison.Ordinal);
            }
        });
    }

    private static async Task<IReadOnlyList<PrometheusSample>> ScrapeAsync(MeshCluster mesh, Uri admin)
    {
        using var response = await mesh.Http.GetAsync(new Uri(admin, "/metrics"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType ?? "", StringComparison.Ordinal);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }
}
