using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Backup and restore exactly as docs/ha.md says, on real processes: 3 etcd members and 3 replicas with the
/// root CA on etcd; etcdctl snapshot save, every member stopped and its data dir deleted, etcdctl snapshot
/// restore into a new cluster, the replicas restarted against it.
/// </summary>
public sealed class EtcdBackupTests
{
    [Fact]
    public Task SnapshotSave_WipeEtcd_SnapshotRestore_ConfigVersionHistoryJoinTokensCaRootAndRegistryAreBack() =>
        EtcdMesh.RunAsync(3, async (etcd, mesh, replicas) =>
        {
            var (a, b, c) = (replicas[0], replicas[1], replicas[2]);
            await mesh.StartServiceAsync("ratings", "ratings-1");
            var caller = await mesh.StartServiceOnAsync(b, "productpage", "productpage-1");
            await EtcdMesh.ApplyAsync(mesh, a, EtcdMesh.RatingsTimeout);
            var (version, names) = await EtcdMesh.ConfigAsync(mesh, c);
            Assert.Contains("ratings-timeout", names);
            var history = (await EtcdMesh.HistoryAsync(mesh, c)).Select(v => v.Version).ToArray();
            var tokens = await JoinTokenIdsAsync(mesh, c);
            var root = await File.ReadAllTextAsync(Path.Combine(a.DataDir, "ca", "root.crt"));
            string[] registered = ["productpage-1", "ratings-1"];
            await Eventually.ValueAsync(() => EtcdMesh.InstancesAsync(mesh, c), i => registered.All(i.Contains), TimeSpan.FromSeconds(20), () => "both instances on C");

            var snapshot = Path.Combine(mesh.Root, "mesh-backup.db");
            await etcd.SnapshotSaveAsync(snapshot);

            // Everything gone but the snapshot: replicas stopped, every etcd member stopped and its data deleted.
            foreach (var replica in replicas)
            {
                replica.Process.Kill();
            }
            await etcd.WipeAsync();
            await etcd.RestoreAsync(snapshot);
            List<ControlPlane> restored = [];
            foreach (var replica in replicas)
            {
                restored.Add(await mesh.RestartAsync(replica));
            }
            // And one replica that never ran before (an empty data dir): the root it issues from comes from etcd alone.
            var fresh = await mesh.StartReplicaAsync();
            restored.Add(fresh);

            foreach (var replica in restored)
            {
                var (v, n) = await EtcdMesh.ConfigAsync(mesh, replica);
                Assert.True(v == version && n.Contains("ratings-timeout"), $"replica :{replica.Port} serves version {v} ({string.Join(",", n)}), before the backup {version}");
                Assert.Equal(history, (await EtcdMesh.HistoryAsync(mesh, replica)).Select(h => h.Version).Where(h => h <= version).ToArray());
                Assert.Subset(new HashSet<string>(await JoinTokenIdsAsync(mesh, replica)), new HashSet<string>(tokens));
            }
            Assert.Equal(root, await File.ReadAllTextAsync(Path.Combine(fresh.DataDir, "ca", "root.crt")));

            // The registry: the instances are back on every replica (restored from the snapshot, or registered
            // again by their sidecars at the next heartbeat if their lease ran out meanwhile).
            foreach (var replica in restored)
            {
                await Eventually.ValueAsync(() => EtcdMesh.InstancesAsync(mesh, replica), i => registered.All(i.Contains), TimeSpan.FromSeconds(30),
                    () => $"the instances on replica :{replica.Port} after the restore");
            }

            // A join token made before the backup gets a new sidecar its first certificate from the new replica;
            // the caller, certified before the backup, calls it over mTLS: the root is the same.
            mesh.UseJoinToken = false;
            await mesh.StartServiceOnAsync(fresh, "ratings", "ratings-2", "--join-token-file", mesh.JoinTokenFile);
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1", "ratings-2"]),
                TimeSpan.FromSeconds(30), () => "ratings-1 and ratings-2 routable from the caller after the restore");
            var bodies = new HashSet<string>();
            for (var i = 0; i < 20 && bodies.Count < 2; i++)
            {
                var (status, body, _) = await mesh.CallAsync(caller, "ratings", "/r");
                Assert.Equal(System.Net.HttpStatusCode.OK, status);
                bodies.Add(body.Split(' ')[0]);
            }
            Assert.Equal(["ratings-1", "ratings-2"], bodies.Order());
        }, rootOnEtcd: true);

    private static async Task<string[]> JoinTokenIdsAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var doc = JsonDocument.Parse(await EtcdMesh.AdminGetTextAsync(mesh, cp, "/v1/join-tokens"));
        return [.. doc.RootElement.EnumerateArray().Select(t => t.GetProperty("id").GetString()!)];
    }
}
