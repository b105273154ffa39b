using System.Net;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The vertical slice with real processes: a control plane, three apps behind three sidecars, calls
/// routed between them, instances killed, and the control plane killed and restarted.
/// </summary>
public sealed class VerticalSliceTests
{
    [Fact]
    public async Task Mesh_KilledInstanceAndControlPlaneRestart_KeepsRoutingAndResyncs()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var a = await mesh.StartServiceAsync("reviews", "reviews-a", "--label", "version=v1");
            var b = await mesh.StartServiceAsync("reviews", "reviews-b", "--label", "version=v2");
            var c = await mesh.StartServiceAsync("reviews", "reviews-c", "--label", "version=v3");
            string[] all = ["reviews-a", "reviews-b", "reviews-c"];
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(a, "reviews.default"), e => e.SequenceEqual(all), TimeSpan.FromSeconds(20), () => "all three instances in a's routing set");

            // The call routes, the answer comes back unchanged, and round robin reaches every instance.
            var answered = new HashSet<string>();
            for (var i = 0; i < 9; i++)
            {
                var (status, body, response) = await mesh.CallAsync(a, "reviews", $"/books/{i}");
                Assert.Equal(HttpStatusCode.OK, status);
                Assert.EndsWith($" GET /books/{i}", body, StringComparison.Ordinal);
                Assert.Equal("reviews", response.Headers.GetValues("x-seen-host").Single());
                answered.Add(response.Headers.GetValues("x-app").Single());
            }
            Assert.Equal(all, answered.Order(StringComparer.Ordinal));

            // SIGKILL c's sidecar: no deregistration, so c leaves the routing set only when its lease expires.
            c.Process.Kill();
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(a, "reviews.default"), e => e.SequenceEqual(["reviews-a", "reviews-b"]),
                MeshCluster.LeaseTtl + TimeSpan.FromSeconds(10), () => "c removed after lease expiry");
            // The log line is written by the console logger's queue and read from the pipe asynchronously.
            await Eventually.TrueAsync(() => Task.FromResult(mesh.ControlPlane!.Process.HasLogged("Lease of reviews-c")), TimeSpan.FromSeconds(5), () => "the control plane logs the expiry");
            for (var i = 0; i < 10; i++)
            {
                var (status, _, response) = await mesh.CallAsync(a, "reviews", "/after-kill");
                Assert.Equal(HttpStatusCode.OK, status);
                Assert.NotEqual("reviews-c", response.Headers.GetValues("x-app").Single());
            }

            // Control plane killed: sidecars keep routing on what they have.
            mesh.ControlPlane!.Process.Kill();
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(b, "reviews", "/cp-down")).Status);
            }

            // Back again: every live sidecar re-syncs and proxy-status shows it in sync.
            var cp = await mesh.RestartControlPlaneAsync();
            var synced = await Eventually.ValueAsync(mesh.ProxyStatusAsync,
                s => s.Length == 2 && s.All(p => p.GetProperty("status").GetString() == "SYNCED"),
                TimeSpan.FromSeconds(30), () => "a and b SYNCED after restart");
            Assert.Equal(["reviews-a.default", "reviews-b.default"], synced.Select(p => p.GetProperty("node").GetString()).Order(StringComparer.Ordinal));
            Assert.All(synced, p => Assert.Equal(p.GetProperty("currentVersion").GetInt64(), p.GetProperty("appliedVersion").GetInt64()));
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(a, "reviews", "/cp-back")).Status);
            Assert.True(cp.Process.HasLogged("Restored "), "the restarted control plane restores the registry from its data dir");
            // Registry writes are coalesced for 100 ms; if the kill came inside that window the dead c is
            // restored with one fresh lease (TTL + the 10 s restore grace), which nobody renews, so it expires again.
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(a, "reviews.default"), e => e.SequenceEqual(["reviews-a", "reviews-b"]),
                MeshCluster.LeaseTtl + TimeSpan.FromSeconds(20), () => "only live instances after restart");
        });
    }

    [Fact]
    public async Task Sidecar_RestartWithControlPlaneDown_RoutesOnSavedSnapshot()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("ratings", "ratings-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "ratings known to caller");

            mesh.ControlPlane!.Process.Kill();
            caller = mesh.RestartSidecar(caller);
            await mesh.WaitReadyAsync(caller);

            var ready = await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/ready"));
            Assert.Contains("saved on disk", ready, StringComparison.Ordinal);
            var (status, body, _) = await mesh.CallAsync(caller, "ratings", "/ratings/1");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("ratings-1 GET /ratings/1", body);
        });
    }

    [Fact]
    public async Task Sidecar_NoControlPlaneAndNoSnapshot_NotReadyWithReason()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            mesh.ControlPlane!.Process.Kill();
            var sidecar = mesh.StartSidecar("reviews", "lonely", FreePorts.Next());

            var body = await Eventually.ValueAsync(async () =>
                {
                    var response = await mesh.Http.GetAsync(new Uri(sidecar.Admin, "/ready"));
                    return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
                },
                r => r.StatusCode == HttpStatusCode.ServiceUnavailable && r.Body.Contains("unreachable", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), () => "/ready says why it is not ready");
            Assert.Contains(mesh.ControlPlane.SidecarApi.ToString(), body.Body, StringComparison.Ordinal);
            Assert.Contains("Connection refused", body.Body, StringComparison.Ordinal);
            // Its output reaches the test through the console logger's queue and a pipe, after /ready may already say it.
            await Eventually.TrueAsync(() => Task.FromResult(sidecar.Process.HasLogged("unreachable")), TimeSpan.FromSeconds(10), () => "the sidecar logs it");
        });
    }

    [Fact]
    public async Task Outbound_UnknownHostAndNoHealthyEndpoint_AnswerAtOnceWithReason()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var details = await mesh.StartServiceAsync("details", "details-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "details.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "details known");

            var (status, body, _) = await mesh.CallAsync(caller, "nosuch", "/x");
            Assert.Equal(HttpStatusCode.NotFound, status);
            Assert.Contains("unknown host 'nosuch'", body, StringComparison.Ordinal);
            Assert.Contains("details.default", body, StringComparison.Ordinal);
            Assert.Contains("productpage.default", body, StringComparison.Ordinal);

            // The app fails its health check: the sidecar reports it and the instance leaves the routing set.
            await mesh.Http.PostAsync(new Uri($"http://127.0.0.1:{details.AppPort}/admin/health/down"), null);
            var unavailable = await Eventually.ValueAsync(() => mesh.CallAsync(caller, "details", "/details/1"),
                r => r.Status == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(20), () => "503 once details is unhealthy");
            Assert.Contains("no healthy endpoint for service 'details.default'", unavailable.Body, StringComparison.Ordinal);

            // The app itself dies while its sidecar lives: the dead connection gives 502, not a hang.
            await mesh.Http.PostAsync(new Uri($"http://127.0.0.1:{details.AppPort}/admin/health/up"), null);
            await Eventually.ValueAsync(() => mesh.CallAsync(caller, "details", "/details/1"), r => r.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(20), () => "details healthy again");
        });
    }

    [Fact]
    public async Task ControlPlane_MalformedYamlEdit_LoggedWithPositionAndRunningConfigKept()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            Directory.CreateDirectory(mesh.ConfigDir);
            mesh.WriteConfig("bookstore.yaml", """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: bookstore}
                spec:
                  hosts: [bookstore]
                  http:
                  - route:
                    - destination: {host: reviews}
                """);
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("reviews", "reviews-1");
            var routed = await Eventually.ValueAsync(() => mesh.CallAsync(caller, "bookstore", "/b"), r => r.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(20), () => "bookstore routes to reviews");
            Assert.Equal("reviews-1 GET /b", routed.Body);

            mesh.WriteConfig("bookstore.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bookstore}\nspec:\n  hosts: [bookstore]\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: lots\n");
            await Eventually.TrueAsync(() => Task.FromResult(mesh.ControlPlane!.Process.HasLogged("bookstore.yaml:9:15: spec.http[0].route[0].weight: expected an integer, got 'lots'")),
                TimeSpan.FromSeconds(20), () => "the rejection is logged with file:line:column");
            Assert.True(mesh.ControlPlane!.Process.HasLogged("still serving config version 1"));

            Assert.Equal("reviews-1 GET /b2", (await mesh.CallAsync(caller, "bookstore", "/b2")).Body);
            var config = await mesh.Http.GetStringAsync(new Uri(mesh.ControlPlane.Admin, "/v1/config"));
            Assert.Contains("\"version\": 1", config, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Sidecar_Sigterm_DeregistersAtOnceWithoutWaitingForLeaseExpiry()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var leaving = await mesh.StartServiceAsync("ratings", "ratings-1");
            await mesh.StartServiceAsync("ratings", "ratings-2");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.Length == 2, TimeSpan.FromSeconds(20), () => "both ratings known");

            leaving.Process.Terminate();

            Assert.Equal(0, await leaving.Process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
            Assert.True(mesh.ControlPlane!.Process.HasLogged("Deregistered ratings-1"), "the sidecar deregistered before exiting");
            Assert.False(mesh.ControlPlane.Process.HasLogged("Lease of ratings-1"), "no lease expiry was needed");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-2"]),
                TimeSpan.FromSeconds(10), () => "callers stop routing to it");
            for (var i = 0; i < 5; i++)
            {
                var (status, body, _) = await mesh.CallAsync(caller, "ratings", "/r");
                Assert.Equal(HttpStatusCode.OK, status);
                Assert.Equal("ratings-2 GET /r", body);
            }
        });
    }

    [Fact]
    public async Task ControlPlane_RestartWithEmptyDataDir_SidecarsRegisterAgainOnNextHeartbeat()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("ratings", "ratings-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "ratings known");

            // The registry is lost entirely (a new control plane with its own fresh state).
            var beforeRestart = caller.Process.Output.Length;
            mesh.ControlPlane!.Process.Kill();
            File.Delete(Path.Combine(mesh.ControlPlane.DataDir, "state.json"));
            var cp = await mesh.RestartControlPlaneAsync();
            // A watch from the earlier run that is shorter than the warm-up is answered "not modified":
            // the watcher keeps what it has rather than getting the registry of the first moments.
            using (var anonymous = TestCertificates.Client(null, HttpVersion.Version20))
            {
                var (issued, _, certificate) = await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("productpage"), await mesh.CreateJoinTokenAsync("productpage"));
                Assert.Equal(HttpStatusCode.OK, issued);
                using var watcher = TestCertificates.Client(certificate, HttpVersion.Version20);
                using var watch = await watcher.GetAsync(new Uri(cp.SidecarApi, "/v1/snapshot?version=3&epoch=an-earlier-run&wait=00:00:01"));
                Assert.Equal(HttpStatusCode.NotModified, watch.StatusCode);
            }

            await Eventually.ValueAsync(async () => (await mesh.Http.GetStringAsync(new Uri(cp.Admin, "/v1/instances"))),
                json => json.Contains("ratings-1", StringComparison.Ordinal) && json.Contains("productpage-1", StringComparison.Ordinal),
                TimeSpan.FromSeconds(20), () => "both instances registered again");
            Assert.Contains(mesh.Sidecars, s => s.Process.HasLogged("registering again"));
            // The caller keeps routing with its snapshot from before the restart until the new control plane's
            // registry has had --restore-grace to hear from every live instance: its first snapshot from the new
            // run has both, never the empty or partial registry of the first moments (a fresh-clone CI run
            // caught the caller applying an empty one, and a call in that moment got a 404).
            Assert.True(cp.Process.HasLogged("No saved registry state"), cp.Process.Output);
            await Eventually.TrueAsync(() => Task.FromResult(caller.Process.Output[beforeRestart..].Contains("Applied snapshot", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(20), () => "a snapshot of the new control plane\n" + caller.Process.Output[beforeRestart..]);
            var applied = caller.Process.Output[beforeRestart..].Split('\n').Where(l => l.Contains("Applied snapshot", StringComparison.Ordinal)).ToArray();
            Assert.Contains("2 healthy endpoint(s)", applied[0], StringComparison.Ordinal);
            Assert.DoesNotContain(applied, l => l.Contains(" 0 healthy endpoint(s)", StringComparison.Ordinal));
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.Length == 1, TimeSpan.FromSeconds(10), () => "ratings routable again");
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(caller, "ratings", "/r")).Status);
            await Eventually.ValueAsync(mesh.ProxyStatusAsync, s => s.Length == 2 && s.All(p => p.GetProperty("status").GetString() == "SYNCED"),
                TimeSpan.FromSeconds(20), () => "both SYNCED");

            // The operator's view of the same thing.
            await using var meshctl = MeshProcess.StartDll("meshctl", RepoPaths.MeshctlDll, ["--admin", cp.Admin.ToString(), "--token-file", Path.Combine(cp.DataDir, "admin-token"), "proxy-status"]);
            Assert.Equal(0, await meshctl.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            var lines = meshctl.Output.Split('\n');
            Assert.StartsWith("NODE", lines[0], StringComparison.Ordinal);
            // NODE SERVICE APPLIED CURRENT STATUS REPLICA
            Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["ratings-1.default", _, _, _, "SYNCED", _]);
        });
    }

    [Fact]
    public async Task Outbound_AppBehindPeerSidecarDies_Answers502AtOnce()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var appPort = FreePorts.Next();
            var app = mesh.StartApp("details-1", appPort);
            var details = mesh.StartSidecar("details", "details-1", appPort);
            await mesh.WaitReadyAsync(details);
            await Eventually.ValueAsync(() => mesh.CallAsync(caller, "details", "/d"), r => r.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(20), () => "details routes");

            app.Kill();
            var (status, _, _) = await mesh.CallAsync(caller, "details", "/d");

            Assert.Equal(HttpStatusCode.BadGateway, status);
        });
    }

    [Theory]
    [InlineData("sidecar", new[] { "--service", "reviews", "--app-port", "abc" }, "mesh-sidecar: --app-port expects a port number 1-65535, got 'abc'; --control-plane is required; --data-dir is required")]
    [InlineData("sidecar", new[] { "--service", "reviews", "--app-port", "9080", "--control-plane", "https://127.0.0.1:1", "--data-dir", "/tmp/x", "--zome", "a" }, "mesh-sidecar: unknown flag --zome; did you mean --zone? (see --help)")]
    [InlineData("sidecar", new[] { "--app-port", "9080" }, "mesh-sidecar: --control-plane is required; --data-dir is required")]
    [InlineData("sidecar", new[] { "--app-port", "9080", "--control-plane", "https://127.0.0.1:1", "--data-dir", "/tmp/x" }, "mesh-sidecar: --service is required")]
    [InlineData("control-plane", new[] { "--config-dir", "/nonexistent-dir", "--data-dir", "/tmp/x" }, "mesh-control-plane: --config-dir expects an existing directory, got '/nonexistent-dir'")]
    [InlineData("control-plane", new[] { "--config-dir", "/tmp", "--data-dir", "/tmp/x", "--lease-ttl", "forever" }, "mesh-control-plane: --lease-ttl expects a positive duration like 500ms, 10s or 1m, got 'forever'")]
    public async Task CommandLine_BadFlag_OneLineAndExitCode2(string program, string[] args, string expected)
    {
        var dll = program == "sidecar" ? RepoPaths.SidecarDll : RepoPaths.ControlPlaneDll;
        await using var process = MeshProcess.StartDll(program, dll, args);

        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, exitCode);
        Assert.Equal(expected, process.Output.Trim());
    }
}
