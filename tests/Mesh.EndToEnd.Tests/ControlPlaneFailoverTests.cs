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

            a.Process.Kill();
            var killed = Stopwatch.StartNew();
            // Proxy status on the survivors: every sidecar SYNCED on exactly one of them, within 2 s.
            var synced = await Eventually.ValueAsync(async () => (await EtcdMesh.ProxyStatusOfAsync(mesh, b)).Concat(await EtcdMesh.ProxyStatusOfAsync(mesh, c)).ToArray(),
                s => nodes.All(n => s.Contains($"{n} SYNCED")), TimeSpan.FromSeconds(20),
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
            foreach (var node in nodes)
            {
                Assert.Single(synced, s => s.StartsWith(node + " ", StringComparison.Ordinal));
            }

            // Leases of instances registered on A and renewed through B or C are kept for two TTLs, and
            // the data path routes on without one failure meanwhile.
            await EtcdMesh.StaysAsync(mesh, caller, ["ratings-1", "ratings-2"]);
            Assert.Contains("ratings-1", await EtcdMesh.InstancesAsync(mesh, b));
            Assert.Contains("ratings-1", await EtcdMesh.InstancesAsync(mesh, c));
            var (calls, failures) = await load.StopAsync();
            Assert.True(failures.Count == 0, $"{failures.Count} of {calls} data-path calls failed during the failover: {string.Join("; ", failures.Take(5))}");
            Assert.True(calls > 100, $"the load ran ({calls} calls)");
            output.WriteLine($"{calls} data-path calls during the failover, {failures.Count} failed");

            // ratings-1's sidecar dies: its lease (granted through A, renewed through B or C) expires once,
            // in etcd; both survivors see the same one deletion and neither sweeps it itself.
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
            Assert.False(b.Process.HasLogged("Lease of ratings-1") || c.Process.HasLogged("Lease of ratings-1"), "no replica expired the lease itself");
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
            mesh.SidecarControlPlanes = string.Join(",", replicas.Select(r => r.SidecarApi.GetLeftPart(UriPartial.Authority)));
            await mesh.StartServiceAsync("ratings", "ratings-1");
            await mesh.StartServiceAsync("ratings", "ratings-2");
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1", "ratings-2"]),
                TimeSpan.FromSeconds(20), () => "both ratings instances routable");
            using var load = new DataPathLoad(mesh, caller, "ratings", workers: 4);
            await load.WaitCallsAsync(50);

            var leader = await etcd.LeaderAsync();
            etcd.Kill(leader);
            var killed = Stopwatch.StartNew();
            // A config write through replica B: refused (503 naming etcd) until the election, then accepted once.
            var refusals = 0;
            await Eventually.TrueAsync(async () =>
            {
                using var apply = new HttpRequestMessage(HttpMethod.Post, new Uri(b.Admin, "/v1/apply?file=ratings-timeout.yaml"))
                {
                    Content = new StringContent(EtcdMesh.RatingsTimeout),
                };
                apply.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(b));
                using var answer = await mesh.Http.SendAsync(apply);
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
