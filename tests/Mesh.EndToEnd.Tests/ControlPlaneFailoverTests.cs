using System.Diagnostics;
using Xunit.Abstractions;
using System.Net;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Sidecars given every control-plane replica (<c>--control-plane A,B,C</c>) on a real 3-member etcd;
/// the replica they all watch is SIGKILLed while calls run through the data path. All real processes on loopback.
/// </summary>
public sealed class ControlPlaneFailoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan FailoverDeadline = TimeSpan.FromSeconds(2);
    // The registry's layout in etcd (docs/ha.md): an instance's key, and its live key on its etcd lease.
    private const string InstanceKeys = "/mesh/registry/instances/";
    private const string LiveKeys = "/mesh/registry/live/";

    [Fact]
    public Task ReplicaEverySidecarWatches_Killed_UnderLoad_NoFailedCall_AllSyncedOnSurvivorsWithin2s_LeasesKept_ThenAKilledSidecarsLeaseExpiresOnce() =>
        EtcdMesh.RunAsync(3, async (etcd, mesh, replicas) =>
        {
            var (a, b, c) = (replicas[0], replicas[1], replicas[2]);
            // Every sidecar lists A first, so every one watches and heart-beats on A.
            mesh.SidecarControlPlanes = string.Join(",", replicas.Select(r => r.SidecarApi.GetLeftPart(UriPartial.Authority)));
            var ratings1 = await mesh.StartServiceAsync("ratings", "ratings-1");
            await mesh.StartServiceAsync("ratings", "ratings-2");
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            string[] nodes = ["ratings-1.default", "ratings-2.default", "productpage-1.default"];
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1", "ratings-2"]),
                TimeSpan.FromSeconds(20), () => "both ratings instances routable");
            await Eventually.ValueAsync(() => EtcdMesh.ProxyStatusOfAsync(mesh, a), s => nodes.All(n => s.Contains($"{n} SYNCED")),
                TimeSpan.FromSeconds(20), () => "every sidecar SYNCED on replica A before it is killed");

            using var load = new DataPathLoad(mesh, caller, "ratings", workers: 4);
            await load.WaitCallsAsync(50);

            // Proxy status is mesh-wide: any replica lists every sidecar once, with the replica it watches.
            var before = await EtcdMesh.ProxyStatusWithReplicasAsync(mesh, b);
            Assert.Equal(nodes.Order(StringComparer.Ordinal), before.Select(p => p.Node));
            Assert.All(before, p => Assert.EndsWith($":{a.Port}", p.Replica, StringComparison.Ordinal));

            a.Process.Kill();
            var killed = Stopwatch.StartNew();
            // Every sidecar SYNCED on B or C within 2 s, as B's mesh-wide proxy status says.
            var synced = await Eventually.ValueAsync(() => EtcdMesh.ProxyStatusWithReplicasAsync(mesh, b),
                s => s.Length == nodes.Length && s.All(p => p.Status == "SYNCED" && !p.Replica.EndsWith($":{a.Port}", StringComparison.Ordinal)), TimeSpan.FromSeconds(20),
                () => "every sidecar SYNCED on replica B or C", pollInterval: TimeSpan.FromMilliseconds(50));
            var syncedAfter = killed.Elapsed;
            // Heart-beating there too: each sidecar says its lease was renewed through another replica.
            await Eventually.TrueAsync(() => Task.FromResult(mesh.Sidecars.All(s => s.Process.HasLogged($"Lease of {s.InstanceId} renewed through replica"))),
                TimeSpan.FromSeconds(20), () => "every sidecar's heartbeats moved off replica A");
            var heartbeatsAfter = killed.Elapsed;
            Assert.True(syncedAfter < FailoverDeadline, $"every sidecar SYNCED on a survivor {syncedAfter.TotalMilliseconds:F0} ms after the kill (deadline {FailoverDeadline})");
            Assert.True(heartbeatsAfter < FailoverDeadline + TimeSpan.FromMilliseconds(500),
                $"every sidecar heart-beating on a survivor {heartbeatsAfter.TotalMilliseconds:F0} ms after the kill (deadline {FailoverDeadline}, observed by polling logs)");
            output.WriteLine($"after the kill: every sidecar SYNCED on a survivor in {syncedAfter.TotalMilliseconds:F0} ms, every lease renewed through a survivor by {heartbeatsAfter.TotalMilliseconds:F0} ms");
            // C says the same: each sidecar on the same survivor.
            await Eventually.ValueAsync(() => EtcdMesh.ProxyStatusWithReplicasAsync(mesh, c), s => s.SequenceEqual(synced),
                TimeSpan.FromSeconds(5), () => $"replica C's proxy status agrees with B's: {string.Join(", ", synced)}");

            // Leases of instances registered on A and renewed through B or C are kept for two TTLs, and
            // the data path routes on without one failure meanwhile.
            await EtcdMesh.StaysAsync(mesh, caller, ["ratings-1", "ratings-2"]);
            Assert.Contains("ratings-1", await EtcdMesh.InstancesAsync(mesh, b));
            Assert.Contains("ratings-1", await EtcdMesh.InstancesAsync(mesh, c));
            var (calls, failures) = await load.StopAsync();
            Assert.True(failures.Count == 0, $"{failures.Count} of {calls} data-path calls failed during the failover: {string.Join("; ", failures.Take(5))}");
            Assert.True(calls > 100, $"the load ran ({calls} calls)");
            output.WriteLine($"{calls} data-path calls during the failover, {failures.Count} failed");

            // ratings-1's sidecar dies: its lease (granted through A, renewed through B or C) expires once, on
            // one replica: the one it last heart-beat through, which kept its live key; both survivors see the
            // same one deletion.
            ratings1.Process.Kill();
            foreach (var survivor in new[] { b, c })
            {
                await Eventually.ValueAsync(() => EtcdMesh.InstancesAsync(mesh, survivor), i => !i.Contains("ratings-1"),
                    TimeSpan.FromSeconds(15), () => $"ratings-1's lease expired and it left replica :{survivor.Port}");
            }
            await EtcdMesh.StaysAsync(mesh, caller, ["ratings-2"]);
            var left = new[] { b, c }.Select(r => r.Process.Output.Split('\n').Where(l => l.Contains("Instance ratings-1 left the registry in etcd", StringComparison.Ordinal)).ToArray()).ToArray();
            Assert.All(left, lines => Assert.Single(lines));
            Assert.Equal(Revision(left[0][0]), Revision(left[1][0]));
            var expiries = new[] { b, c }.Sum(r => r.Process.Output.Split('\n').Count(l => l.Contains("Lease of ratings-1 (", StringComparison.Ordinal) && l.Contains("expired", StringComparison.Ordinal)));
            Assert.True(expiries == 1, $"ratings-1's lease expired {expiries} times on the survivors; once, on the replica it heart-beat through, expected");
            Assert.Single(new[] { b, c }, r => r.Process.HasLogged("Elected to sweep lapsed leases"));
            Assert.StartsWith("ratings-2 GET /r", (await mesh.CallAsync(caller, "ratings", "/r")).Body, StringComparison.Ordinal);
        }, rootOnEtcd: true); // the survivors issue from the root A made and stored on etcd

    /// <summary>
    /// Issue 22's test 3: etcd's raft leader SIGKILLed while calls run through the data path. Sidecars
    /// route on the snapshots they hold, so not one call fails; writes (a config apply, a registration)
    /// resume once etcd has elected a new leader, and no live lease lapses meanwhile.
    /// </summary>
    [Fact]
    public Task EtcdLeaderKilled_UnderLoad_NoFailedCall_WritesResumeAfterTheElection_NoLiveLeaseLapses() =>
        EtcdMesh.RunAsync(2, async (etcd, mesh, replicas) =>
        {
            var (a, b) = (replicas[0], replicas[1]);
            var caller = await StartRatingsAndCallerAsync(mesh, replicas);
            using var load = new DataPathLoad(mesh, caller, "ratings", workers: 4);
            await load.WaitCallsAsync(50);

            var leader = await etcd.LeaderAsync();
            etcd.Kill(leader);
            var killed = Stopwatch.StartNew();
            // A config write through replica B: refused (503 naming etcd) until the election, then accepted once.
            var refusals = 0;
            await Eventually.TrueAsync(async () =>
            {
                using var answer = await ApplyAsync(mesh, b);
                if (answer.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Assert.Contains("etcd", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                    refusals++;
                }
                return answer.IsSuccessStatusCode;
            }, TimeSpan.FromSeconds(30), () => "a config write accepted after etcd's election");
            var writesAfter = killed.Elapsed;
            // A registration through either replica after the election, routable from the caller.
            await mesh.StartServiceAsync("ratings", "ratings-3");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1", "ratings-2", "ratings-3"]),
                TimeSpan.FromSeconds(20), () => "ratings-3, registered after the etcd leader was killed, routable");
            await Eventually.TrueAsync(async () => (await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/config_dump"))).Contains("ratings-timeout", StringComparison.Ordinal),
                TimeSpan.FromSeconds(20), () => "the sidecar applied the config written after the election");
            // No live lease lapsed: the three stay routable for two lease TTLs.
            await EtcdMesh.StaysAsync(mesh, caller, ["ratings-1", "ratings-2", "ratings-3"]);
            var (calls, failures) = await load.StopAsync();
            Assert.True(failures.Count == 0, $"{failures.Count} of {calls} data-path calls failed after the etcd leader was killed: {string.Join("; ", failures.Take(5))}");
            Assert.True(calls > 100, $"the load ran ({calls} calls)");
            output.WriteLine($"etcd leader (member {leader}) killed: a config write accepted {writesAfter.TotalMilliseconds:F0} ms later ({refusals} refused with 503 first); {calls} data-path calls, {failures.Count} failed");
        });

    /// <summary>
    /// Issue 22's test 4: every replica SIGKILLed under load for longer than the lease TTL, so etcd lets every
    /// lease run out while no replica can renew one. The data path routes on meanwhile; when the replicas are
    /// back, heartbeats attach new leases to the instances still registered: the same registry and config, no
    /// instance lost, and not one expiry of an instance whose sidecar kept heart-beating.
    /// </summary>
    [Fact]
    public Task AllReplicasDown_DataPathRoutesOn_AllBack_SameRegistryAndConfig_NoRenewedLeaseExpired() =>
        EtcdMesh.RunAsync(2, async (etcd, mesh, replicas) =>
        {
            var caller = await StartRatingsAndCallerAsync(mesh, replicas);
            using (var applied = await ApplyAsync(mesh, replicas[0]))
            {
                Assert.True(applied.IsSuccessStatusCode, await applied.Content.ReadAsStringAsync());
            }
            await Eventually.TrueAsync(async () => (await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/config_dump"))).Contains("ratings-timeout", StringComparison.Ordinal),
                TimeSpan.FromSeconds(20), () => "the sidecar applied the VirtualService");
            var instances = await EtcdMesh.InstancesAsync(mesh, replicas[0]);
            Assert.Equal(["productpage-1", "ratings-1", "ratings-2"], instances.Order(StringComparer.Ordinal));
            var version = await ConfigVersionAsync(mesh, replicas[0]);
            using var load = new DataPathLoad(mesh, caller, "ratings", workers: 4);
            await load.WaitCallsAsync(50);

            foreach (var replica in replicas)
            {
                replica.Process.Kill();
            }
            var down = Stopwatch.StartNew();
            // Nobody renews: etcd lets every live lease run out; the instances themselves stay in etcd.
            await Eventually.TrueAsync(async () => await etcd.KeyCountAsync(LiveKeys) == 0,
                MeshCluster.LeaseTtl + TimeSpan.FromSeconds(15), () => "every live lease lapsed in etcd with all replicas down");
            var lapsedAfter = down.Elapsed;
            Assert.Equal(3, await etcd.KeyCountAsync(InstanceKeys));
            await Task.Delay(MeshCluster.LeaseTtl); // down for a while longer
            var downFor = down.Elapsed;

            var back = new List<ControlPlane>();
            foreach (var replica in replicas)
            {
                back.Add(await mesh.RestartAsync(replica));
            }
            var backAfter = down.Elapsed - downFor;
            // Each sidecar's next heartbeat attaches a new lease to its instance, still registered.
            await Eventually.TrueAsync(async () => await etcd.KeyCountAsync(LiveKeys) == 3,
                TimeSpan.FromSeconds(10), () => "every instance has a live lease again");
            var reattached = down.Elapsed - downFor;
            foreach (var id in instances)
            {
                Assert.Single(back, r => r.Process.HasLogged($"The etcd lease of {id} had lapsed while it stayed registered"));
            }
            // Past the restore grace the sweeper gave what it found without a lease (10 s by default): nothing leaves.
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(10) + 2 * MeshCluster.LeaseTtl;
            while (DateTime.UtcNow < until)
            {
                Assert.Equal(["ratings-1", "ratings-2"], await mesh.EndpointsAsync(caller, "ratings.default"));
                foreach (var replica in back)
                {
                    Assert.Equal(instances, (await EtcdMesh.InstancesAsync(mesh, replica)).Order(StringComparer.Ordinal));
                }
                await Task.Delay(500);
            }
            Assert.Single(back, r => r.Process.HasLogged("Elected to sweep lapsed leases"));
            Assert.DoesNotContain(back, r => r.Process.HasLogged("left the registry in etcd") || r.Process.Output.Contains("expired; removed from the routing set", StringComparison.Ordinal));
            foreach (var replica in back)
            {
                Assert.Equal(version, await ConfigVersionAsync(mesh, replica));
            }
            Assert.Contains("ratings-timeout", await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/config_dump")), StringComparison.Ordinal);
            var (calls, failures) = await load.StopAsync();
            Assert.True(failures.Count == 0, $"{failures.Count} of {calls} data-path calls failed with every replica down: {string.Join("; ", failures.Take(5))}");
            Assert.True(calls > 100, $"the load ran ({calls} calls)");
            output.WriteLine($"all replicas down {downFor.TotalMilliseconds:F0} ms (every live lease lapsed in etcd {lapsedAfter.TotalMilliseconds:F0} ms after the kill); back in {backAfter.TotalMilliseconds:F0} ms, every instance on a new lease {reattached.TotalMilliseconds:F0} ms after the restarts began; {calls} data-path calls, {failures.Count} failed");
        });

    /// <summary>Two ratings instances and a productpage caller, every sidecar given every replica; returns the caller once both are routable.</summary>
    private static async Task<Sidecar> StartRatingsAndCallerAsync(MeshCluster mesh, IReadOnlyList<ControlPlane> replicas)
    {
        mesh.SidecarControlPlanes = string.Join(",", replicas.Select(r => r.SidecarApi.GetLeftPart(UriPartial.Authority)));
        await mesh.StartServiceAsync("ratings", "ratings-1");
        await mesh.StartServiceAsync("ratings", "ratings-2");
        var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
        await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1", "ratings-2"]),
            TimeSpan.FromSeconds(20), () => "both ratings instances routable");
        return caller;
    }

    private static async Task<HttpResponseMessage> ApplyAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var apply = new HttpRequestMessage(HttpMethod.Post, new Uri(cp.Admin, "/v1/apply?file=ratings-timeout.yaml"))
        {
            Content = new StringContent(EtcdMesh.RatingsTimeout),
        };
        apply.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(cp));
        return await mesh.Http.SendAsync(apply);
    }

    private static async Task<long> ConfigVersionAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(cp.Admin, "/v1/config"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(cp));
        using var response = await mesh.Http.SendAsync(request);
        using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("version").GetInt64();
    }

    private static string Revision(string line) => line[(line.LastIndexOf("revision ", StringComparison.Ordinal) + "revision ".Length)..].Trim();

    /// <summary>Calls a host through a sidecar from several workers until stopped, keeping every failure.</summary>
    private sealed class DataPathLoad : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _workers;
        private readonly List<string> _failures = [];
        private int _calls;

        public DataPathLoad(MeshCluster mesh, Sidecar from, string host, int workers) =>
            _workers = [.. Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        var (status, body, response) = await mesh.CallAsync(from, host, "/r");
                        response.Dispose();
                        if (status != HttpStatusCode.OK)
                        {
                            Fail($"{(int)status} {body.Trim()}");
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        Fail(e.Message);
                    }
                    Interlocked.Increment(ref _calls);
                }
            }))];

        public async Task WaitCallsAsync(int count) =>
            await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref _calls) >= count), TimeSpan.FromSeconds(20), () => $"{count} calls through the data path");

        public async Task<(int Calls, IReadOnlyList<string> Failures)> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers);
            lock (_failures)
            {
                return (_calls, [.. _failures]);
            }
        }

        private void Fail(string what)
        {
            lock (_failures)
            {
                _failures.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {what}");
            }
        }

        public void Dispose() => _stop.Dispose();
    }
}
