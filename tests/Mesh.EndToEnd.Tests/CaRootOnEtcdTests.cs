using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>The root CA on etcd (<c>--ca-key-secret-file</c>): 3 real etcd members, replicas as real processes.</summary>
public sealed class CaRootOnEtcdTests
{
    [Fact]
    public Task Root_MadeByTheFirstReplica_EveryReplicaIssuesFromIt_KeyNotOnDisk_AWrongSecretIsRefused() =>
        EtcdMesh.RunAsync(2, async (etcd, mesh, replicas) =>
        {
            var (a, b) = (replicas[0], replicas[1]);
            var rootA = await File.ReadAllTextAsync(Path.Combine(a.DataDir, "ca", "root.crt"));
            Assert.Equal(rootA, await File.ReadAllTextAsync(Path.Combine(b.DataDir, "ca", "root.crt")));
            Assert.False(File.Exists(Path.Combine(a.DataDir, "ca", "root.key")) || File.Exists(Path.Combine(b.DataDir, "ca", "root.key")),
                "the root's key is on etcd, encrypted, not in a data dir");

            // A sidecar certified by A (its join token is A's) is trusted by a caller certified by B, both ways through mTLS.
            var ratings = await mesh.StartServiceAsync("ratings", "ratings-1");
            var caller = await mesh.StartServiceOnAsync(b, "productpage", "productpage-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1"]),
                TimeSpan.FromSeconds(20), () => "ratings routable from B's caller");
            Assert.StartsWith("ratings-1 GET /r", (await mesh.CallAsync(caller, "ratings", "/r")).Body, StringComparison.Ordinal);
            Assert.False(ratings.Process.HasExited);

            // A replica given another secret cannot decrypt the key: it refuses to start, saying why.
            var wrong = Path.Combine(mesh.Root, "wrong-secret");
            await File.WriteAllTextAsync(wrong, new string('x', 64));
            await using var refused = MeshProcess.StartDll("control-plane (wrong secret)", RepoPaths.ControlPlaneDll,
            [
                "--config-dir", mesh.ConfigDir, "--data-dir", Path.Combine(mesh.Root, "cp-wrong"), "--port", FreePorts.Next().ToString(),
                "--admin-port", FreePorts.Next().ToString(), "--listen", "127.0.0.1", "--dns-port", "0",
                "--store", "etcd", "--etcd-endpoints", etcd.Endpoints, "--ca-key-secret-file", wrong,
            ]);
            Assert.Equal(1, await refused.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains("does not decrypt the mesh's root CA key on etcd", refused.Output, StringComparison.Ordinal);
        }, rootOnEtcd: true);
}
