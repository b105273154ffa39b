using System.Net.Http.Json;
using System.Diagnostics;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// A sidecar's Consul agent API, driven by Debian's python3-consul (a client nobody here wrote): apps
/// without sidecars register with HTTP and TTL checks, are discovered healthy-only, hidden when a check
/// fails, followed by blocking queries, reached by mesh callers, and removed on deregistration or when
/// the agent holding them dies.
/// </summary>
public sealed class ConsulApiTests(ITestOutputHelper output)
{
    [Fact]
    public async Task PythonConsul_RegistersWithChecks_SeesHealthyOnly_BlocksUntilChanges_AndMeshCallersReachTheInstances()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var (agentPort, otherPort) = (FreePorts.Next(), FreePorts.Next());
            var agent = await mesh.StartServiceAsync("productpage", "productpage-1", "--consul-port", agentPort.ToString());
            var other = await mesh.StartServiceAsync("ratings", "ratings-1", "--consul-port", otherPort.ToString());
            var (web1Port, web2Port) = (FreePorts.Next(), FreePorts.Next());
            mesh.StartApp("web-1", web1Port);
            mesh.StartApp("web-2", web2Port);

            // Stock client calls, as an app makes them: leader, self, then two instances of "web" with HTTP checks.
            Assert.Contains("127.0.0.1:", (await ConsulAsync(agentPort, "leader")).GetString(), StringComparison.Ordinal);
            Assert.Equal("productpage-1", (await ConsulAsync(agentPort, "agent_self")).GetProperty("Config").GetProperty("NodeName").GetString());
            foreach (var (id, port, tag) in new[] { ("web-1", web1Port, "v1"), ("web-2", web2Port, "v2") })
            {
                Assert.True((await ConsulAsync(agentPort, "register", new { name = "web", id, address = "127.0.0.1", port, tags = new[] { tag },
                    http = $"http://127.0.0.1:{port}/health", interval = "250ms", timeout = "1s" })).GetBoolean());
            }
            var services = await ConsulAsync(agentPort, "agent_services");
            Assert.Equal(["web-1", "web-2"], services.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));

            // Discovered through the other sidecar's agent too (one registry), healthy only, by tag.
            await Eventually.ValueAsync(() => PassingAsync(otherPort, "web"), ids => ids.Length == 2, TimeSpan.FromSeconds(10), () => "both web instances passing, seen from another agent");
            var v2Only = await ConsulAsync(otherPort, "health", new { service = "web", passing = true, tag = "v2" });
            Assert.Equal(["web-2"], Ids(v2Only));
            var entry = v2Only.GetProperty("nodes")[0];
            Assert.Equal(web2Port, entry.GetProperty("Service").GetProperty("Port").GetInt32());
            Assert.Equal("productpage-1", entry.GetProperty("Node").GetProperty("Node").GetString());
            var catalog = await ConsulAsync(otherPort, "catalog_services");
            Assert.Equal(["v1", "v2"], catalog.GetProperty("services").GetProperty("web").EnumerateArray().Select(t => t.GetString()));
            Assert.True(catalog.GetProperty("services").TryGetProperty("productpage", out _), "sidecar-registered services are in the catalog too");
            Assert.Equal(2, (await ConsulAsync(otherPort, "catalog_service", new { service = "web" })).GetProperty("nodes").GetArrayLength());

            // A mesh caller reaches them through its sidecar (plaintext to the app: no sidecar in front of it).
            var bodies = new HashSet<string>();
            for (var i = 0; i < 20 && bodies.Count < 2; i++)
            {
                var (status, body, _) = await mesh.CallAsync(other, "web", "/");
                Assert.Equal(System.Net.HttpStatusCode.OK, status);
                bodies.Add(body.Split(' ')[0]);
            }
            Assert.Equal(["web-1", "web-2"], bodies.Order(StringComparer.Ordinal));

            // A blocking query held on the current index returns when web-2's check fails, well within a second.
            var before = await ConsulAsync(otherPort, "health", new { service = "web", passing = true });
            var index = before.GetProperty("index").GetString();
            var blocked = ConsulAsync(otherPort, "health", new { service = "web", passing = true, index, wait = "20s" });
            await Task.Delay(500);
            Assert.False(blocked.IsCompleted, "the blocking query waits for a change");
            var clock = Stopwatch.StartNew();
            using (await mesh.Http.PostAsync(new Uri($"http://127.0.0.1:{web2Port}/admin/health/down"), null)) { }
            JsonElement answer;
            do
            {
                answer = await blocked;
                blocked = ConsulAsync(otherPort, "health", new { service = "web", passing = true, index = answer.GetProperty("index").GetString(), wait = "20s" });
            }
            while (Ids(answer).Length != 1 && clock.Elapsed < TimeSpan.FromSeconds(10));
            output.WriteLine($"check failed to blocking query answered without it: {clock.ElapsedMilliseconds} ms (check interval 250 ms)");
            Assert.Equal(["web-1"], Ids(answer));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
            var all = await ConsulAsync(otherPort, "health", new { service = "web" });
            Assert.Equal(["web-1", "web-2"], Ids(all)); // still listed, with its failing check
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(other, "web.default"), e => e.Length == 1, TimeSpan.FromSeconds(5), () => "web-2 out of the caller's routing set");
            var agentChecks = await ConsulAsync(agentPort, "agent_checks");
            Assert.Equal("critical", agentChecks.GetProperty("service:web-2").GetProperty("Status").GetString());
            Assert.Contains("503", agentChecks.GetProperty("service:web-2").GetProperty("Output").GetString(), StringComparison.Ordinal);

            // A TTL check: critical until its client passes it, critical again once the TTL runs out.
            Assert.True((await ConsulAsync(agentPort, "register", new { name = "worker", id = "worker-1", address = "127.0.0.1", port = web1Port, ttl = "2s" })).GetBoolean());
            await Eventually.ValueAsync(() => AllIdsAsync(otherPort, "worker"), ids => ids.Length == 1, TimeSpan.FromSeconds(10), () => "worker registered");
            Assert.Empty(await PassingAsync(otherPort, "worker"));
            Assert.True((await ConsulAsync(agentPort, "ttl_pass", new { check_id = "service:worker-1" })).GetBoolean());
            await Eventually.ValueAsync(() => PassingAsync(otherPort, "worker"), ids => ids.Length == 1, TimeSpan.FromSeconds(5), () => "worker passing after ttl_pass");
            await Eventually.ValueAsync(() => PassingAsync(otherPort, "worker"), ids => ids.Length == 0, TimeSpan.FromSeconds(6), () => "worker critical once its TTL ran out");

            // Deregistration: gone from every agent's view.
            Assert.True((await ConsulAsync(agentPort, "deregister", new { id = "web-1" })).GetBoolean());
            await Eventually.ValueAsync(() => AllIdsAsync(otherPort, "web"), ids => ids.SequenceEqual(["web-2"]), TimeSpan.FromSeconds(5), () => "web-1 deregistered");

            // Not implemented: a clear error, never a fake success.
            var kv = await ConsulAsync(agentPort, "kv_get", new { key = "config/x" }, expectError: true);
            Assert.Contains("does not implement GET /v1/kv/config/x", kv.GetProperty("message").GetString(), StringComparison.Ordinal);

            // The agent's sidecar dies: the leases of what it held lapse, and the other agent stops seeing them.
            agent.Process.Kill();
            clock.Restart();
            await Eventually.ValueAsync(() => AllIdsAsync(otherPort, "web"), ids => ids.Length == 0, TimeSpan.FromSeconds(15), () => "web-2 gone after its agent died");
            output.WriteLine($"agent killed to its instances gone: {clock.ElapsedMilliseconds} ms (lease {MeshCluster.LeaseTtl})");
        });
    }

    [Fact]
    public async Task ConsulRegistration_IsScopedByTheSidecarsJoinToken_AndSurvivesASidecarRestart()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var scopedToken = Path.Combine(mesh.Root, "ratings-token");
            await File.WriteAllTextAsync(scopedToken, await mesh.CreateJoinTokenAsync("ratings"));
            mesh.UseJoinToken = false;
            var scopedPort = FreePorts.Next();
            var scoped = await mesh.StartServiceAsync("ratings", "ratings-1", "--consul-port", scopedPort.ToString(), "--join-token-file", scopedToken);
            mesh.UseJoinToken = true;
            var appPort = FreePorts.Next();
            mesh.StartApp("ratings-extra", appPort);

            // A service token: its own service only; refused at once with the reason (as Consul's ACLs refuse).
            var refused = await ConsulAsync(scopedPort, "register", new { name = "web", id = "web-1", address = "127.0.0.1", port = appPort }, expectError: true);
            Assert.Contains("Permission denied", refused.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Contains("only ratings.default", refused.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.True((await ConsulAsync(scopedPort, "register", new { name = "ratings", id = "ratings-extra", address = "127.0.0.1", port = appPort })).GetBoolean());
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(scoped, "ratings.default"), e => e.Length == 2, TimeSpan.FromSeconds(10), () => "ratings-extra routable");

            // An agent-only sidecar (no app of its own) with a namespace token registers any service of that namespace.
            var namespaceToken = Path.Combine(mesh.Root, "default-ns-token");
            using (var response = await mesh.Http.PostAsJsonAsync(new Uri(mesh.ControlPlane!.Admin, "/v1/join-tokens"), new { @namespace = "default" }))
            {
                await File.WriteAllTextAsync(namespaceToken, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString());
            }
            mesh.UseJoinToken = false;
            var agentOnlyPort = FreePorts.Next();
            var agentOnly = mesh.StartSidecar("consul-agent", "consul-agent-1", 0, "--consul-port", agentOnlyPort.ToString(), "--join-token-file", namespaceToken);
            mesh.UseJoinToken = true;
            await mesh.WaitReadyAsync(agentOnly);
            Assert.True(agentOnly.Process.HasLogged("No --app-port: an agent only, as consul-agent.default"), agentOnly.Process.Output);
            foreach (var name in new[] { "web", "billing" })
            {
                Assert.True((await ConsulAsync(agentOnlyPort, "register", new { name, id = name + "-1", address = "127.0.0.1", port = appPort })).GetBoolean());
            }
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(scoped, "billing.default"), e => e.Length == 1, TimeSpan.FromSeconds(10), () => "billing, registered by the agent-only sidecar, routable");
            Assert.Equal(["billing-1@consul-agent-1"], await mesh.EndpointsAsync(scoped, "billing.default"));
            Assert.DoesNotContain("\"instanceId\": \"consul-agent-1\"", await mesh.Http.GetStringAsync(new Uri(mesh.ControlPlane.Admin, "/v1/instances")), StringComparison.Ordinal);

            // Bad input: every problem, with its field and value.
            var bad = await ConsulAsync(scopedPort, "register", new { name = "Bad_Name", port = 70000 }, expectError: true);
            Assert.Contains("Name: 'Bad_Name' is not a Mesh service name", bad.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Contains("Port:", bad.GetProperty("message").GetString(), StringComparison.Ordinal);

            // A second sidecar wanting the same Consul port stops at once with one line saying why, not a stack trace.
            var clash = mesh.StartSidecar("ratings", "ratings-2", appPort, "--consul-port", scopedPort.ToString());
            Assert.Equal(1, await clash.Process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(clash.Process.HasLogged($"mesh-sidecar: --consul-port 127.0.0.1:{scopedPort} cannot be bound (AddressAlreadyInUse)"), clash.Process.Output);
            Assert.False(clash.Process.HasLogged("   at "), "a stack trace: " + clash.Process.Output);
            mesh.Sidecars.Remove(clash);

            // Restarted, the sidecar holds the same services (saved in its data dir, as a Consul agent's).
            var restarted = mesh.RestartSidecar(scoped);
            await mesh.WaitReadyAsync(restarted);
            var services = await ConsulAsync(scopedPort, "agent_services");
            Assert.Equal(["ratings-extra"], services.EnumerateObject().Select(p => p.Name));
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(restarted, "ratings.default"), e => e.Length == 2, TimeSpan.FromSeconds(10), () => "ratings-extra routable after the restart");
        });
    }

    [Fact]
    public async Task NodeConsul_WatchFollowsRegistrationsAndFailingChecks_Measured_AndMeshCallersReachTheInstances()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var agentPort = FreePorts.Next();
            await mesh.StartServiceAsync("productpage", "productpage-1", "--consul-port", agentPort.ToString());
            var caller = await mesh.StartServiceAsync("ratings", "ratings-1");
            var ports = new[] { FreePorts.Next(), FreePorts.Next() };
            mesh.StartApp("api-1", ports[0]);
            mesh.StartApp("api-2", ports[1]);
            await NodeConsul.InstallAsync();

            object Definition(int i) => new { name = "api", id = $"api-{i + 1}", address = "127.0.0.1", port = ports[i], tags = new[] { "blue" },
                check = new { http = $"http://127.0.0.1:{ports[i]}/health", interval = "100ms", timeout = "1s" } };
            Assert.True((await NodeConsul.RunAsync(agentPort, "register", Definition(0))).GetBoolean());
            Assert.True((await NodeConsul.RunAsync(agentPort, "register", Definition(1))).GetBoolean());
            var listed = await NodeConsul.RunAsync(agentPort, "services");
            Assert.Equal("blue", listed.GetProperty("api-1").GetProperty("Tags")[0].GetString());

            await using var watch = MeshProcess.Start("node consul watch", "node", [NodeConsul.Script, agentPort.ToString(), "watch", """{"service":"api"}"""]);
            async Task<long> SeenAsync(string[] ids, string what)
            {
                var line = await Eventually.ValueAsync(() => Task.FromResult(NodeConsul.Lines(watch).LastOrDefault()), l => l is { } e && e.TryGetProperty("ids", out var seen)
                    && seen.EnumerateArray().Select(x => x.GetString()).SequenceEqual(ids), TimeSpan.FromSeconds(10), () => $"{what}; the watch printed:\n{watch.Output}");
                return line!.Value.GetProperty("at").GetInt64();
            }
            await SeenAsync(["api-1", "api-2"], "both passing");

            // Deregistered and registered again, and api-2's app failing its check and recovering, ten times each:
            // from the change to the client's watch callback.
            var registry = new List<double>();
            var checks = new List<double>();
            for (var round = 0; round < 10; round++)
            {
                var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                await NodeConsul.RunAsync(agentPort, "deregister", new { id = "api-1" });
                registry.Add(await SeenAsync(["api-2"], "api-1 deregistered") - start);
                start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                await NodeConsul.RunAsync(agentPort, "register", Definition(0));
                // Registered critical (Consul's default) until its first check passes, 100 ms later at most.
                registry.Add(await SeenAsync(["api-1", "api-2"], "api-1 registered again") - start);

                start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                using (await mesh.Http.PostAsync(new Uri($"http://127.0.0.1:{ports[1]}/admin/health/down"), null)) { }
                checks.Add(await SeenAsync(["api-1"], "api-2 failing") - start);
                start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                using (await mesh.Http.PostAsync(new Uri($"http://127.0.0.1:{ports[1]}/admin/health/up"), null)) { }
                checks.Add(await SeenAsync(["api-1", "api-2"], "api-2 passing again") - start);
            }
            static string Summary(List<double> ms) => $"p50 {Percentile(ms, 0.5):F0} ms, p99 {Percentile(ms, 0.99):F0} ms, max {ms.Max():F0} ms over {ms.Count}";
            output.WriteLine($"npm consul watch: agent (de)registration to callback {Summary(registry)}; app health flip to callback (100 ms check interval) {Summary(checks)}");
            Assert.True(Percentile(registry, 0.5) < 1000, $"registration changes reach the watch within a second (median): {Summary(registry)}");
            Assert.True(Percentile(checks, 0.5) < 1000, $"failing checks reach the watch within a second (median): {Summary(checks)}");

            // A TTL check the client stops passing: the instance leaves the watch's answer once the TTL runs out.
            Assert.True((await NodeConsul.RunAsync(agentPort, "register", new { name = "api", id = "api-ttl", address = "127.0.0.1", port = ports[0], check = new { ttl = "1s" } })).GetBoolean());
            Assert.True((await NodeConsul.RunAsync(agentPort, "pass", new { id = "service:api-ttl" })).GetBoolean());
            // The TTL runs from the pass, not from when the watch showed it passing: under load that can take
            // most of the second (measured from there, a CI run saw the TTL "lapse" 275 ms later).
            var passed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await SeenAsync(["api-1", "api-2", "api-ttl"], "api-ttl passing");
            var lapsed = await SeenAsync(["api-1", "api-2"], "api-ttl critical after its TTL") - passed;
            output.WriteLine($"TTL 1 s not renewed: out of the watch {lapsed} ms after the last pass");
            Assert.InRange(lapsed, 900, 3000);

            // The mesh routes to what Consul clients see.
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "api.default"), e => e.Length == 2, TimeSpan.FromSeconds(5), () => "both api instances routable");
            var (status, body, _) = await mesh.CallAsync(caller, "api", "/hello");
            Assert.Equal(System.Net.HttpStatusCode.OK, status);
            Assert.Matches("^api-[12] GET /hello$", body);
        });
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(p * sorted.Length) - 1)];
    }

    /// <summary>npm's consul client, installed once from the lock file next to its driver script.</summary>
    private static class NodeConsul
    {
        private static readonly SemaphoreSlim Gate = new(1);

        public static string Directory => Path.Combine(RepoPaths.Root, "tests", "Mesh.EndToEnd.Tests", "clients", "consul-node");

        public static string Script => Path.Combine(Directory, "client.js");

        public static async Task InstallAsync()
        {
            await Gate.WaitAsync();
            try
            {
                if (!File.Exists(Path.Combine(Directory, "node_modules", "consul", "package.json")))
                {
                    await using var npm = MeshProcess.Start("npm ci (consul)", "npm", ["ci", "--prefix", Directory, "--no-audit", "--no-fund"]);
                    Assert.True(await npm.WaitForExitAsync(TimeSpan.FromMinutes(3)) == 0, "npm ci failed:\n" + npm.Output);
                }
            }
            finally
            {
                Gate.Release();
            }
        }

        public static async Task<JsonElement> RunAsync(int port, string command, object? args = null)
        {
            await using var node = MeshProcess.Start($"node consul {command}", "node", [Script, port.ToString(), command, JsonSerializer.Serialize(args ?? new { })]);
            var exit = await node.WaitForExitAsync(TimeSpan.FromSeconds(30));
            Assert.True(exit == 0, $"node consul {command} exited {exit}: {node.Output}");
            return JsonDocument.Parse(node.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last()).RootElement.Clone();
        }

        public static IEnumerable<JsonElement?> Lines(MeshProcess process) =>
            process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{')).Select(l => (JsonElement?)JsonDocument.Parse(l).RootElement.Clone());
    }

    private static string[] Ids(JsonElement health) =>
        health.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("Service").GetProperty("ID").GetString()!).Order(StringComparer.Ordinal).ToArray();

    private static async Task<string[]> PassingAsync(int port, string service) => Ids(await ConsulAsync(port, "health", new { service, passing = true }));

    private static async Task<string[]> AllIdsAsync(int port, string service) => Ids(await ConsulAsync(port, "health", new { service }));

    /// <summary>Runs one python3-consul call (Debian's package, under Debian's python3) and parses what it printed.</summary>
    private static async Task<JsonElement> ConsulAsync(int port, string command, object? args = null, bool expectError = false)
    {
        var script = Path.Combine(RepoPaths.Root, "tests", "Mesh.EndToEnd.Tests", "clients", "consul", "python_consul.py");
        var start = new ProcessStartInfo("/usr/bin/python3", [script, port.ToString(), command, JsonSerializer.Serialize(args ?? new { })])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await process.WaitForExitAsync(timeout.Token);
        var text = await stdout;
        Assert.True(process.ExitCode == (expectError ? 3 : 0), $"python3-consul {command} exited {process.ExitCode}: {text}{await stderr}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
