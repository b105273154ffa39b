using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The failure scenarios of docs/resilience.md with real processes under bounded load on loopback.
/// Each prints its figures; rerun with:
/// dotnet test tests/Mesh.EndToEnd.Tests --filter FullyQualifiedName~ResilienceTests --logger "console;verbosity=detailed"
/// </summary>
public sealed class ResilienceTests(ITestOutputHelper output)
{
    private const string ReviewsOutlierDetection = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          trafficPolicy:
            outlierDetection:
              consecutive5xxErrors: 3
              interval: 1s
              baseEjectionTime: 30s
              maxEjectionPercent: 50
        """;

    [Fact]
    public async Task Scenario1_InstanceKilledUnderLoad_CallerSeesAlmostNoFailures_AndItIsEjectedFast()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var instances = new List<Sidecar>();
            foreach (var id in new[] { "reviews-a", "reviews-b", "reviews-c" })
            {
                instances.Add(await mesh.StartServiceAsync("reviews", id));
            }
            // Istio's default retry policy does not retry resets, so calls in flight on the killed
            // connections would fail (one per connection); a route that opts into "reset" hides them too.
            await mesh.ApplyConfigAsync("reviews.yaml", ReviewsOutlierDetection + """

                ---
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
                    retries:
                      attempts: 2
                      retryOn: connect-failure,reset,gateway-error
                """);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 3, TimeSpan.FromSeconds(20), () => "three instances");

            var killedAt = TimeSpan.Zero;
            var clock = Stopwatch.StartNew();
            var load = Load.RunAsync(mesh, caller, "reviews", "/reviews/1", concurrency: 8, TimeSpan.FromSeconds(5));
            await Task.Delay(1500);
            instances[2].Process.Kill();
            killedAt = clock.Elapsed;
            var ejectedAt = await Eventually.ValueAsync(async () => await EjectedAsync(mesh, caller, "reviews-c") ? clock.Elapsed : (TimeSpan?)null,
                t => t is not null, TimeSpan.FromSeconds(5), () => "reviews-c ejected", pollInterval: TimeSpan.FromMilliseconds(20));
            var result = await load;

            var toEjection = ejectedAt!.Value - killedAt;
            output.WriteLine($"scenario 1: {result}; SIGKILL to ejection {toEjection.TotalMilliseconds:F0} ms (polled every 20 ms)");
            Assert.True(result.Sent >= 200, $"load too small to judge: {result}");
            Assert.True(result.Failed <= result.Sent / 1000, $"more than 0.1% failed: {result}");
            Assert.True(toEjection < TimeSpan.FromSeconds(1), $"ejection took {toEjection}");
        });
    }

    [Fact]
    public async Task Scenario2_RollingRestartUnderLoad_NoCallFails()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var instances = new List<Sidecar>();
            foreach (var id in new[] { "reviews-a", "reviews-b", "reviews-c" })
            {
                instances.Add(await mesh.StartServiceAsync("reviews", id, "--drain-delay", "500ms"));
            }
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 3, TimeSpan.FromSeconds(20), () => "three instances");

            using var stop = new CancellationTokenSource();
            var load = Load.RunAsync(mesh, caller, "reviews", "/reviews/1", concurrency: 4, TimeSpan.FromSeconds(60), stop.Token);
            foreach (var instance in instances.ToArray())
            {
                instance.Process.Terminate();
                Assert.Equal(0, await instance.Process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
                var restarted = mesh.RestartSidecar(instance);
                await mesh.WaitReadyAsync(restarted);
                await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 3, TimeSpan.FromSeconds(20), () => $"{instance.InstanceId} back");
            }
            stop.Cancel();
            var result = await load;

            output.WriteLine($"scenario 2: rolling restart of 3 instances (SIGTERM, start, next): {result}");
            Assert.True(result.Sent >= 100, $"load too small to judge: {result}");
            Assert.Equal(0, result.Failed);
            Assert.All(instances, i => Assert.True(mesh.ControlPlane!.Process.HasLogged($"Deregistered {i.InstanceId}"), $"{i.InstanceId} deregistered before exiting"));
        });
    }

    [Fact]
    public async Task Scenario3_InstanceFailing30Percent_RetriesHideIt_AndTheBudgetCapsRetryStorms()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("reviews", "reviews-a");
            await mesh.StartServiceAsync("reviews", "reviews-b");
            var flaky = await mesh.StartServiceWithAppArgsAsync("reviews", "reviews-flaky", ["--fail-rate", "0.3"]);
            var broken = await mesh.StartServiceWithAppArgsAsync("ratings", "ratings-broken", ["--fail-rate", "1"]);
            await mesh.ApplyConfigAsync("retries.yaml", """
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
                    retries:
                      attempts: 3
                      retryOn: 5xx
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: ratings
                spec:
                  hosts:
                  - ratings
                  http:
                  - route:
                    - destination:
                        host: ratings
                    retries:
                      attempts: 3
                      retryOn: 5xx
                """);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 3, TimeSpan.FromSeconds(20), () => "three instances");

            var result = await Load.RunAsync(mesh, caller, "reviews", "/reviews/1", concurrency: 4, count: 900);
            var flakyServed = await ServedAsync(mesh, flaky);
            output.WriteLine($"scenario 3a: one of 3 instances answers 503 to 30% of calls, retries 3 on 5xx: {result}; the flaky instance served {flakyServed} attempts");
            Assert.True(result.Failed <= result.Sent / 100, $"more than 1% failed: {result}");
            Assert.True(flakyServed > 100, "the flaky instance took its share");

            // A service failing every call: without a budget 3 retries would quadruple its load.
            var storm = await Load.RunAsync(mesh, caller, "ratings", "/ratings/1", concurrency: 4, count: 1500);
            var upstream = await ServedAsync(mesh, broken);
            var retries = upstream - storm.Sent;
            var allowed = 0.2 * storm.Sent + 10 * 10;
            output.WriteLine($"scenario 3b: service failing 100%, retries 3 on 5xx: {storm.Sent} calls, {upstream} upstream attempts, {retries} retries " +
                $"(budget: 20% of calls + 10/s over 10 s = {allowed:F0}; without it {3 * storm.Sent})");
            Assert.Equal(storm.Sent, storm.Failed);
            Assert.InRange(retries, 1, allowed + 4);
        });
    }

    [Fact]
    public async Task Scenario4_HangingInstance_PerTryTimeoutMovesTheCallElsewhere()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("reviews", "reviews-ok");
            var hung = await mesh.StartServiceWithAppArgsAsync("reviews", "reviews-hung", ["--hang"]);
            await mesh.ApplyConfigAsync("retries.yaml", """
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
                    timeout: 5s
                    retries:
                      attempts: 2
                      perTryTimeout: 300ms
                      retryOn: gateway-error,connect-failure
                """);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 2, TimeSpan.FromSeconds(20), () => "two instances");

            var result = await Load.RunAsync(mesh, caller, "reviews", "/reviews/1", concurrency: 2, count: 40);
            var hungAttempts = await ServedAsync(mesh, hung);
            output.WriteLine($"scenario 4: one of 2 instances never answers, perTryTimeout 300ms: {result}; attempts that hit the hung instance: {hungAttempts}");
            Assert.Equal(0, result.Failed);
            Assert.True(hungAttempts > 0, "some attempts went to the hung instance and were moved on");
            Assert.True(result.Slowest >= TimeSpan.FromMilliseconds(300), "a call that met the hung instance waited for its per-try timeout");
        });
    }

    [Fact]
    public async Task Scenario5_ConnectionPoolLimits_OverflowAnswersAtOnce_UpstreamNeverSeesMore()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var slow = await mesh.StartServiceAsync("reviews", "reviews-1");
            await mesh.ApplyConfigAsync("reviews.yaml", """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: reviews
                spec:
                  host: reviews
                  trafficPolicy:
                    connectionPool:
                      tcp:
                        maxConnections: 1
                      http:
                        http1MaxPendingRequests: 1
                """);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "reviews routable");

            var calls = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
            {
                var clock = Stopwatch.StartNew();
                var (status, _, response) = await mesh.CallAsync(caller, "reviews", "/delay/700");
                return (status, limit: response.Headers.TryGetValues("x-mesh-overflow", out var v) ? v.Single() : null, elapsed: clock.Elapsed);
            }));
            var overflowed = calls.Where(c => c.limit is not null).ToArray();
            var served = calls.Where(c => c.status == HttpStatusCode.OK).ToArray();
            using var stats = JsonDocument.Parse(await mesh.Http.GetStringAsync($"http://127.0.0.1:{slow.AppPort}/admin/stats"));
            var maxInFlight = stats.RootElement.GetProperty("maxInFlight").GetInt32();
            output.WriteLine($"scenario 5: 20 concurrent calls, maxConnections 1, http1MaxPendingRequests 1: {served.Length} served, {overflowed.Length} overflowed " +
                $"(slowest overflow {overflowed.Max(c => c.elapsed).TotalMilliseconds:F0} ms, fastest served {served.Min(c => c.elapsed).TotalMilliseconds:F0} ms); upstream max in flight {maxInFlight}");
            Assert.Equal(20, overflowed.Length + served.Length);
            Assert.All(overflowed, c => Assert.Equal((HttpStatusCode.ServiceUnavailable, "max-pending-requests"), (c.status, c.limit)));
            Assert.True(overflowed.Length >= 10, $"only {overflowed.Length} overflowed");
            Assert.True(overflowed.Max(c => c.elapsed) < served.Min(c => c.elapsed), "overflow answers come back before any served call could finish");
            Assert.Equal(1, maxInFlight);
        });
    }

    [Fact]
    public async Task MaxRequestsPerConnectionOne_EachCallUsesItsOwnConnection()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var reviews = await mesh.StartServiceAsync("reviews", "reviews-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "reviews routable");

            async Task<int> ClosedConnectionsAfter20CallsAsync()
            {
                var before = ClosedConnections(reviews.InboundPort);
                for (var i = 0; i < 20; i++)
                {
                    Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(caller, "reviews", "/r")).Status);
                }
                return ClosedConnections(reviews.InboundPort) - before;
            }

            var keepAlive = await ClosedConnectionsAfter20CallsAsync();
            await mesh.ApplyConfigAsync("reviews.yaml", """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: reviews
                spec:
                  host: reviews
                  trafficPolicy:
                    connectionPool:
                      http:
                        maxRequestsPerConnection: 1
                """);
            var oneEach = await ClosedConnectionsAfter20CallsAsync();

            output.WriteLine($"connections closed by 20 calls to the peer sidecar: {keepAlive} with keep-alive, {oneEach} with maxRequestsPerConnection: 1");
            Assert.True(keepAlive <= 2, $"keep-alive: {keepAlive} connections closed");
            Assert.True(oneEach >= 18, $"maxRequestsPerConnection 1: only {oneEach} connections closed");
        });
    }

    /// <summary>Loopback TCP connections to or from <paramref name="port"/> in TIME_WAIT (closed), from /proc/net/tcp.</summary>
    private static int ClosedConnections(int port)
    {
        var hex = port.ToString("X4", System.Globalization.CultureInfo.InvariantCulture);
        return new[] { "/proc/net/tcp", "/proc/net/tcp6" }.Where(File.Exists)
            .SelectMany(File.ReadLines)
            .Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(f => f.Length > 3 && f[3] == "06" && (f[1].EndsWith(":" + hex, StringComparison.Ordinal) || f[2].EndsWith(":" + hex, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task RetryOn_EachCondition_RetriesExactlyTheFailuresItNames()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("reviews", "reviews-good");
            await mesh.StartServiceWithAppArgsAsync("reviews", "reviews-bad", ["--obey-x-fail"]);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 2, TimeSpan.FromSeconds(20), () => "two instances");

            // (retryOn, how the bad instance fails, retried?) A retried call moves to the good instance, so
            // every call succeeds; a call not retried fails whenever round robin picked the bad one.
            (string RetryOn, string Fail, bool Retried)[] cases =
            [
                ("5xx", "500", true), ("5xx", "reset", true), ("5xx", "404", false),
                ("gateway-error", "502", true), ("gateway-error", "504", true), ("gateway-error", "500", false),
                // An app that resets its connection is answered 502 by its own sidecar, so the caller sees a
                // 502, not a reset (as with Envoy): "reset" covers only the hop between sidecars.
                ("reset", "reset", false), ("reset", "503", false),
                ("retriable-4xx", "409", true), ("retriable-4xx", "403", false),
                ("retriable-status-codes,429", "429", true), ("retriable-status-codes,429", "503", false),
                ("connect-failure", "503", false),
            ];
            string? applied = null;
            foreach (var (retryOn, fail, retried) in cases)
            {
                if (applied != retryOn)
                {
                    applied = retryOn;
                    await mesh.ApplyConfigAsync("retries.yaml", $"""
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
                        retries:
                          attempts: 1
                          retryOn: {retryOn}
                    """);
                }
                var failed = 0;
                for (var i = 0; i < 8; i++)
                {
                    try
                    {
                        var (status, _, _) = await mesh.SendAsync(caller, "reviews", "/r", r => r.Headers.Add("x-fail", fail));
                        failed += status == HttpStatusCode.OK ? 0 : 1;
                    }
                    catch (HttpRequestException)
                    {
                        failed++;
                    }
                }
                output.WriteLine($"retryOn {retryOn}, instance fails with {fail}: {failed} of 8 calls failed");
                Assert.True(retried ? failed == 0 : failed >= 2, $"retryOn {retryOn} with {fail}: {failed} of 8 failed, expected {(retried ? "none" : "about half")}");
            }
        });
    }

    [Fact]
    public async Task CallersThatLeaveMidResponse_AreNotCountedAgainstTheEndpoint()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("reviews", "reviews-1");
            await mesh.ApplyConfigAsync("reviews.yaml", ReviewsOutlierDetection.Replace("maxEjectionPercent: 50", "maxEjectionPercent: 100"));
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "one instance");

            // Six callers read the first chunk of a slow answer and hang up (closing the connection: no
            // draining of the rest for reuse): twice the consecutive-5xx threshold.
            using var hangingUp = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, UseProxy = false });
            var leavers = Enumerable.Range(0, 6).Select(async _ =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(caller.Outbound, "/stream/8?delay=250"));
                request.Headers.Host = "reviews";
                using var response = await hangingUp.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await using var body = await response.Content.ReadAsStreamAsync();
                var first = new byte[64];
                Assert.True(await body.ReadAsync(first) > 0, "no first chunk");
            });
            await Task.WhenAll(leavers);
            // The caller's sidecar finds out when it next writes to them; each call is over when it has.
            var ended = await Eventually.ValueAsync(() => OutboundCallsEndedAsync(mesh, caller), n => n >= 6, TimeSpan.FromSeconds(15), () => "the six calls to end");
            output.WriteLine($"calls ended: {ended}");
            // They are counted as the caller leaving (Envoy's DC), not as answers.
            var metrics = await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/metrics"));
            Assert.Contains(metrics.Split('\n'), l => l.StartsWith("mesh_requests_total{", StringComparison.Ordinal)
                && l.Contains("mesh_error=\"downstream-disconnect\"", StringComparison.Ordinal) && l.EndsWith(" 6", StringComparison.Ordinal));
            Assert.False(await EjectedAsync(mesh, caller, "reviews-1"), "callers hanging up ejected a healthy endpoint");
            var (status, body, _) = await mesh.CallAsync(caller, "reviews", "/stream/1");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Contains("reviews-1", body);

            // The same count of real failures does eject it: the check above can fail.
            for (var i = 0; i < 3; i++)
            {
                await mesh.CallAsync(caller, "reviews", "/status/503");
            }
            Assert.True(await EjectedAsync(mesh, caller, "reviews-1"), "three 503s did not eject the endpoint");
        });
    }

    private static async Task<double> OutboundCallsEndedAsync(MeshCluster mesh, Sidecar sidecar) =>
        (await mesh.Http.GetStringAsync(new Uri(sidecar.Admin, "/metrics"))).Split('\n')
            .Where(l => l.StartsWith("mesh_requests_total{", StringComparison.Ordinal) && l.Contains("direction=\"outbound\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    private static async Task<bool> EjectedAsync(MeshCluster mesh, Sidecar sidecar, string instance)
    {
        using var doc = JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(sidecar.Admin, "/clusters")));
        return doc.RootElement.EnumerateArray()
            .SelectMany(c => c.GetProperty("endpoints").EnumerateArray())
            .Any(e => e.GetProperty("instance").GetString() == instance && e.GetProperty("ejected").GetBoolean());
    }

    private static async Task<long> ServedAsync(MeshCluster mesh, Sidecar sidecar)
    {
        using var doc = JsonDocument.Parse(await mesh.Http.GetStringAsync($"http://127.0.0.1:{sidecar.AppPort}/admin/stats"));
        return doc.RootElement.GetProperty("served").GetInt64();
    }

    /// <summary>Closed-loop load from a sidecar: a few callers in a loop, for a time or a count of calls.</summary>
    /// <summary>An instance in a caller's routing set: listed on its /clusters page and not ejected.</summary>
    private static async Task<bool> InSetAsync(MeshCluster mesh, Sidecar caller, string cluster, string instance)
    {
        using var doc = JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/clusters")));
        return doc.RootElement.EnumerateArray()
            .Where(c => c.GetProperty("cluster").GetString() == cluster)
            .SelectMany(c => c.GetProperty("endpoints").EnumerateArray())
            .Any(e => e.GetProperty("instance").GetString() == instance && !e.GetProperty("ejected").GetBoolean());
    }

    /// <summary>Three reviews instances whose apps the test can kill too, a caller under load and an idle caller.</summary>
    private static async Task<(Sidecar Loaded, Sidecar Idle, List<(Sidecar Sidecar, MeshProcess App)> Instances)> DefaultsMeshAsync(MeshCluster mesh)
    {
        await mesh.StartControlPlaneAsync();
        var loaded = await mesh.StartServiceAsync("productpage", "productpage-1");
        var idle = await mesh.StartServiceAsync("details", "details-1");
        var instances = new List<(Sidecar, MeshProcess)>();
        foreach (var id in new[] { "reviews-a", "reviews-b", "reviews-c" })
        {
            var port = FreePorts.Next();
            var app = mesh.StartApp(id, port);
            var sidecar = mesh.StartSidecar("reviews", id, port);
            await mesh.WaitReadyAsync(sidecar);
            instances.Add((sidecar, app));
        }
        foreach (var caller in new[] { loaded, idle })
        {
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 3, TimeSpan.FromSeconds(20), () => "three instances");
        }
        return (loaded, idle, instances);
    }

    /// <summary>
    /// Issue 20's bar, with nothing configured (no DestinationRule, no VirtualService): five times, one
    /// instance's sidecar and app are SIGKILLed under 8 concurrent callers; the killed instance must be out
    /// of both callers' sets within 1 s (the loaded caller by its own connect failure, the idle one by the
    /// control plane seeing the watch connection close) and at most 0.1% of calls may fail.
    /// </summary>
    [Fact]
    public async Task Defaults_InstancesKilledUnderLoad_LeaveEveryCallersSetWithinASecond_AndAlmostNoCallFails()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var (loaded, idle, instances) = await DefaultsMeshAsync(mesh);
            using var stop = new CancellationTokenSource();
            var load = Load.RunAsync(mesh, loaded, "reviews", "/reviews/1", concurrency: 8, TimeSpan.FromMinutes(3), stop.Token);
            var times = new List<(TimeSpan Loaded, TimeSpan Idle)>();
            await Task.Delay(1000);
            for (var kill = 0; kill < 5; kill++)
            {
                var index = kill % instances.Count;
                var (victim, app) = instances[index];
                // Both SIGKILLed at once, timed from the signal (Process.Kill enumerates the process tree first).
                victim.Process.Signal("KILL");
                app.Signal("KILL");
                var clock = Stopwatch.StartNew();
                TimeSpan? outOfLoaded = null, outOfIdle = null;
                while ((outOfLoaded is null || outOfIdle is null) && clock.Elapsed < TimeSpan.FromSeconds(10))
                {
                    outOfLoaded ??= await InSetAsync(mesh, loaded, "reviews.default", victim.InstanceId) ? null : clock.Elapsed;
                    outOfIdle ??= await InSetAsync(mesh, idle, "reviews.default", victim.InstanceId) ? null : clock.Elapsed;
                    await Task.Delay(10);
                }
                Assert.True(outOfLoaded is not null && outOfIdle is not null, $"kill {kill}: {victim.InstanceId} still in a caller's set after 10 s");
                times.Add((outOfLoaded!.Value, outOfIdle!.Value));

                var restartedApp = mesh.StartApp(victim.InstanceId + " (restarted)", victim.AppPort);
                var restarted = mesh.RestartSidecar(victim);
                await mesh.WaitReadyAsync(restarted);
                instances[index] = (restarted, restartedApp);
                foreach (var caller in new[] { loaded, idle })
                {
                    await Eventually.TrueAsync(() => InSetAsync(mesh, caller, "reviews.default", victim.InstanceId), TimeSpan.FromSeconds(20), () => $"{victim.InstanceId} back in the set");
                }
                // Steady load between kills, as in the issue's scenario: one kill in 12 s of load, timed from the
                // kill. Packed closer, the calls in flight on each killed connection alone (7 per kill here, over 8
                // callers) came to about 0.1% of what a run on a loaded machine made (35 of 25,907 with kills
                // 4-5 s apart in a fresh-clone CI run).
                var left = TimeSpan.FromSeconds(12) - clock.Elapsed;
                await Task.Delay(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }
            await Task.Delay(500);
            stop.Cancel();
            var result = await load;

            var worst = times.Select(t => t.Loaded > t.Idle ? t.Loaded : t.Idle).Max();
            output.WriteLine($"defaults, 5 SIGKILLs under 8 callers: {result}; kill to out of the set (loaded caller / idle caller, ms): "
                + string.Join(", ", times.Select(t => $"{t.Loaded.TotalMilliseconds:F0}/{t.Idle.TotalMilliseconds:F0}")) + $"; worst {worst.TotalMilliseconds:F0} ms");
            Assert.True(result.Sent >= 2000, $"load too small to judge: {result}");
            Assert.True(result.Failed <= result.Sent / 1000, $"more than 0.1% failed: {result}");
            Assert.True(worst < TimeSpan.FromSeconds(1), $"an instance stayed in a caller's set {worst} after its kill");
            Assert.True(mesh.ControlPlane!.Process.HasLogged("marked unhealthy"), "the control plane saw no broken watch connection");
            // The loaded caller met the dead endpoints itself (refused connects) before the control plane's
            // word arrived: counted as local-origin ejections; with no DestinationRule, none by outlier detection.
            var metrics = PrometheusText.Parse(await mesh.Http.GetStringAsync(new Uri(loaded.Admin, "/metrics")));
            var localOrigin = metrics.Value("mesh_ejections_total", ("destination", "reviews.default"), ("reason", "local-origin"));
            output.WriteLine($"loaded caller: {localOrigin} local-origin ejections");
            Assert.InRange(localOrigin, 1, 100);
            Assert.Equal(0, metrics.Value("mesh_ejections_total", ("reason", "outlier-detection")));
        });
    }

    /// <summary>SIGSTOP closes nothing: only the lease can tell. The frozen instance must leave both sets within the lease TTL plus one second.</summary>
    [Fact]
    public async Task Defaults_InstanceStoppedUnderLoad_LeavesEveryCallersSetWithinTheLeaseTtlPlusASecond()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var (loaded, idle, instances) = await DefaultsMeshAsync(mesh);
            using var stop = new CancellationTokenSource();
            var load = Load.RunAsync(mesh, loaded, "reviews", "/reviews/1", concurrency: 8, TimeSpan.FromMinutes(1), stop.Token);
            await Task.Delay(1000);
            var (victim, app) = instances[1];
            var clock = Stopwatch.StartNew();
            victim.Process.Signal("STOP");
            app.Signal("STOP");
            TimeSpan? outOfLoaded = null, outOfIdle = null;
            while ((outOfLoaded is null || outOfIdle is null) && clock.Elapsed < TimeSpan.FromSeconds(15))
            {
                outOfLoaded ??= await InSetAsync(mesh, loaded, "reviews.default", victim.InstanceId) ? null : clock.Elapsed;
                outOfIdle ??= await InSetAsync(mesh, idle, "reviews.default", victim.InstanceId) ? null : clock.Elapsed;
                await Task.Delay(20);
            }
            // Let the calls frozen on it finish before judging the load.
            victim.Process.Signal("CONT");
            app.Signal("CONT");
            await Task.Delay(1000);
            stop.Cancel();
            var result = await load;

            output.WriteLine($"defaults, SIGSTOP under 8 callers: {result}; slowest call {result.Slowest.TotalMilliseconds:F0} ms; stop to out of the set: loaded caller {outOfLoaded?.TotalMilliseconds:F0} ms, idle caller {outOfIdle?.TotalMilliseconds:F0} ms (lease TTL {MeshCluster.LeaseTtl.TotalSeconds} s)");
            Assert.True(outOfLoaded is not null && outOfIdle is not null, "the stopped instance stayed in a caller's set");
            var bound = MeshCluster.LeaseTtl + TimeSpan.FromSeconds(1);
            Assert.True(outOfLoaded < bound && outOfIdle < bound, $"left the sets after {outOfLoaded} / {outOfIdle}, over {bound}");
        });
    }

    /// <summary>
    /// Issue 20: a config change must never fail a call. Under load, 100 changes in a row move routing
    /// between a subset that always exists and one that each change adds or removes.
    /// </summary>
    [Fact]
    public async Task ConfigChanges_FlippingSubsetsUnderLoad_HundredTimes_FailNoCall()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
            await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
            const string FlipSubset = "  - name: flip\n    labels:\n      version: v2\n";
            static string Config(int i) => Subsets(i % 2 == 1 ? FlipSubset : "", i % 2 == 1 ? "flip" : "v1");
            static string Subsets(string extra, string target) => $$"""
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
                {{extra}}---
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
                        subset: {{target}}
                """;
            await mesh.ApplyConfigAsync("reviews.yaml", Config(0));
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default|v1"), e => e.Length == 1, TimeSpan.FromSeconds(20), () => "v1 routable");

            using var stop = new CancellationTokenSource();
            var load = Load.RunAsync(mesh, caller, "reviews", "/reviews/1", concurrency: 4, TimeSpan.FromMinutes(4), stop.Token);
            for (var i = 1; i <= 100; i++)
            {
                await mesh.ApplyConfigAsync("reviews.yaml", Config(i));
            }
            stop.Cancel();
            var result = await load;

            output.WriteLine($"100 config changes under 4 callers: {result}");
            Assert.True(result.Sent >= 500, $"load too small to judge: {result}");
            Assert.Equal(0, result.Failed);
        });
    }

    private static class Load
    {
        public static Task<Result> RunAsync(MeshCluster mesh, Sidecar from, string host, string path, int concurrency, TimeSpan duration, CancellationToken stop = default) =>
            RunAsync(mesh, from, host, path, concurrency, int.MaxValue, duration, stop);

        public static Task<Result> RunAsync(MeshCluster mesh, Sidecar from, string host, string path, int concurrency, int count) =>
            RunAsync(mesh, from, host, path, concurrency, count, TimeSpan.FromMinutes(2), default);

        private static async Task<Result> RunAsync(MeshCluster mesh, Sidecar from, string host, string path, int concurrency, int count, TimeSpan duration, CancellationToken stop)
        {
            var deadline = Stopwatch.StartNew();
            var tickets = 0;
            var completed = 0;
            var failures = new ConcurrentBag<string>();
            var slowest = TimeSpan.Zero;
            var gate = new Lock();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
            {
                while (deadline.Elapsed < duration && !stop.IsCancellationRequested && Interlocked.Increment(ref tickets) <= count)
                {
                    var clock = Stopwatch.StartNew();
                    try
                    {
                        var (status, body, _) = await mesh.CallAsync(from, host, path);
                        if (status != HttpStatusCode.OK)
                        {
                            failures.Add($"{(int)status} {body.Trim()}");
                        }
                    }
                    catch (HttpRequestException e)
                    {
                        failures.Add(e.Message);
                    }
                    Interlocked.Increment(ref completed);
                    lock (gate)
                    {
                        slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
                    }
                }
            }));
            return new Result(completed, failures.Count, [.. failures.Distinct().Take(5)], slowest);
        }
    }

    private sealed record Result(int Sent, int Failed, string[] Samples, TimeSpan Slowest)
    {
        public override string ToString() =>
            $"{Sent} calls, {Failed} failed ({100.0 * Failed / Math.Max(1, Sent):F2}%){(Samples.Length > 0 ? ": " + string.Join("; ", Samples) : "")}";
    }
}
