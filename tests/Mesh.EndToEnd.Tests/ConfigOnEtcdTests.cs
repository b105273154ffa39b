using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The config on etcd (<c>--store etcd</c>): 3 real etcd members and 3 control-plane replicas, meshctl and
/// replicas as real processes on loopback.
/// </summary>
public sealed class ConfigOnEtcdTests
{
    [Fact]
    public Task MeshctlApply_WhileAReplicaIsDown_AcceptedOnce_VisibleOnEveryReplica_SurvivesRestartingThemAll() =>
        EtcdMesh.RunAsync(3, async (etcd, mesh, replicas) =>
        {
            var (a, b, c) = (replicas[0], replicas[1], replicas[2]);
            var caller = await mesh.StartServiceOnAsync(c, "productpage", "productpage-1");
            // One replica imports the config dir (elected through etcd); the others serve what etcd holds.
            await Eventually.TrueAsync(() => Task.FromResult(replicas.Any(r => r.Process.HasLogged("Elected to import the config dir"))),
                TimeSpan.FromSeconds(10), () => "a replica elected to import the config dir");
            Assert.Single(replicas, r => r.Process.HasLogged("Elected to import the config dir"));
            var before = await VersionsAsync(mesh, replicas);
            Assert.Single(before.Distinct()); // one mesh-wide config version
            var admins = string.Join(",", replicas.Select(r => r.Admin.GetLeftPart(UriPartial.Authority)));
            var file = Path.Combine(mesh.Root, "ratings-timeout.yaml");
            await File.WriteAllTextAsync(file, EtcdMesh.RatingsTimeout);

            // A is down; meshctl is given every replica and A's token file (the mesh's admin token, on etcd).
            a.Process.Kill();
            var (code, output) = await EtcdMesh.MeshctlAsync("--admin", admins, "--token-file", Path.Combine(a.DataDir, "admin-token"), "apply", "-f", file);
            Assert.True(code == 0, $"meshctl apply exited {code}: {output}");
            Assert.Contains("configured", output, StringComparison.Ordinal);

            // Accepted once: one version more, the same on both live replicas, written through one of them.
            foreach (var live in new[] { b, c })
            {
                await Eventually.ValueAsync(() => EtcdMesh.ConfigAsync(mesh, live), v => v.Version == before[0] + 1 && v.Names.Contains("ratings-timeout"),
                    TimeSpan.FromSeconds(20), () => $"the applied VirtualService on replica :{live.Port}");
            }
            Assert.Equal(1, new[] { b, c }.Sum(r => r.Process.Output.Split('\n').Count(l => l.Contains("Applied VirtualService default/ratings-timeout", StringComparison.Ordinal))));
            await Eventually.TrueAsync(async () => (await EtcdMesh.ProxyStatusOfAsync(mesh, c)).Contains("productpage-1.default SYNCED")
                    && (await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/config_dump"))).Contains("ratings-timeout", StringComparison.Ordinal),
                TimeSpan.FromSeconds(20), () => "the sidecar on replica C applied the new config");

            // A held the config leader key; its lease runs out and B or C takes over the config dir: an edit
            // there (every replica has the same dir here) is imported once more, as the next version.
            await Eventually.TrueAsync(() => Task.FromResult(b.Process.HasLogged("Elected to import the config dir") || c.Process.HasLogged("Elected to import the config dir")),
                TimeSpan.FromSeconds(20), () => "B or C elected to import the config dir after A died");
            mesh.WriteConfig("ratings-dr.yaml", """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: ratings}
                spec: {host: ratings, trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: 30s}}}
                """);
            foreach (var live in new[] { b, c })
            {
                await Eventually.ValueAsync(() => EtcdMesh.ConfigAsync(mesh, live), v => v.Version == before[0] + 2,
                    TimeSpan.FromSeconds(20), () => $"the config dir's edit, imported by the new leader, on replica :{live.Port}");
            }
            Assert.Equal(1, new[] { b, c }.Sum(r => r.Process.Output.Split('\n').Count(l => l.Contains("Imported config dir", StringComparison.Ordinal))));
            before[0]++;

            // A comes back and reads it from etcd; then every replica restarts: the same config, the same version.
            a = await mesh.RestartAsync(a);
            Assert.Equal((before[0] + 1, true), await ConfigOfAsync(mesh, a));
            foreach (var cp in new[] { a, b, c })
            {
                cp.Process.Kill();
            }
            List<ControlPlane> restarted = [];
            foreach (var cp in new[] { a, b, c })
            {
                restarted.Add(await mesh.RestartAsync(cp));
            }
            foreach (var cp in restarted)
            {
                Assert.Equal((before[0] + 1, true), await ConfigOfAsync(mesh, cp));
            }
        });

    /// <summary>
    /// With <c>--store etcd</c> the history is etcd's too: changes applied through replica A are listed once
    /// by replica B with how and who, a rollback made on B serves the old resources on A as the next
    /// mesh-wide version, and the history survives restarting both.
    /// </summary>
    [Fact]
    public Task History_IsShared_ARollbackOnOneReplicaServesTheOldVersionOnAll_SurvivesRestarts() =>
        EtcdMesh.RunAsync(2, async (etcd, mesh, replicas) =>
        {
            var (a, b) = (replicas[0], replicas[1]);
            await EtcdMesh.ApplyAsync(mesh, a, EtcdMesh.RatingsTimeout);
            var first = (await EtcdMesh.ConfigAsync(mesh, a)).Version;
            await EtcdMesh.ApplyAsync(mesh, a, EtcdMesh.RatingsTimeout.Replace("timeout: 3s", "timeout: 7s", StringComparison.Ordinal));
            var second = (await EtcdMesh.ConfigAsync(mesh, a)).Version;
            Assert.Equal(first + 1, second);

            // B lists both, each once, as A made them.
            var history = await Eventually.ValueAsync(() => EtcdMesh.HistoryAsync(mesh, b), h => h.Any(v => v.Version == second),
                TimeSpan.FromSeconds(20), () => "replica B's history has A's second apply");
            foreach (var version in new[] { first, second })
            {
                var entry = Assert.Single(history, v => v.Version == version);
                Assert.Equal(("apply", "admin-token"), (entry.How, entry.Who));
            }

            // Rolled back on B: a new version with the first apply's resources, served by A.
            using (var rollback = new HttpRequestMessage(HttpMethod.Post, new Uri(b.Admin, "/v1/config/rollback")) { Content = new StringContent($"{{\"version\": {first}}}", System.Text.Encoding.UTF8, "application/json") })
            {
                rollback.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(b));
                using var answer = await mesh.Http.SendAsync(rollback);
                Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
            }
            await Eventually.ValueAsync(() => EtcdMesh.ConfigAsync(mesh, a), c => c.Version == second + 1, TimeSpan.FromSeconds(20), () => "replica A serves the rollback");
            Assert.Contains("timeout: 3s", await EtcdMesh.AdminGetTextAsync(mesh, a, $"/v1/config/history/{second + 1}"), StringComparison.Ordinal);
            var rolledBack = Assert.Single(await EtcdMesh.HistoryAsync(mesh, a), v => v.Version == second + 1);
            Assert.Equal("rollback", rolledBack.How);

            // Both restart: the history is etcd's, not a data dir's.
            a.Process.Kill();
            b.Process.Kill();
            a = await mesh.RestartAsync(a);
            Assert.Equal([second + 1, second, first], (await EtcdMesh.HistoryAsync(mesh, a)).Select(v => v.Version).Where(v => v >= first).ToArray());
        });

    private static async Task<(long Version, bool HasIt)> ConfigOfAsync(MeshCluster mesh, ControlPlane cp)
    {
        var config = await EtcdMesh.ConfigAsync(mesh, cp);
        return (config.Version, config.Names.Contains("ratings-timeout"));
    }

    private static async Task<long[]> VersionsAsync(MeshCluster mesh, IEnumerable<ControlPlane> replicas) =>
        [.. await Task.WhenAll(replicas.Select(async r => (await EtcdMesh.ConfigAsync(mesh, r)).Version))];
}
