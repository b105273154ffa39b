using System.Net;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The registry on etcd (<c>--store etcd</c>): a real 3-member etcd cluster, two control-plane replicas on
/// it, sidecars on either; all real processes on loopback.
/// </summary>
public sealed class EtcdStoreTests
{
    [Fact]
    public Task TwoReplicas_SidecarRegisteredOnOne_IsRoutedToFromTheOther_LeavesWhenKilled_AndSurvivesEtcdMembersAndItsLeaderKilled() =>
        OnTwoReplicasAsync(async (etcd, mesh, a, b) =>
        {
            var ratings1 = await mesh.StartServiceAsync("ratings", "ratings-1");                // registers on replica A
            var caller = await mesh.StartServiceOnAsync(b, "productpage", "productpage-1");   // watches replica B
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1"]),
                TimeSpan.FromSeconds(20), () => "ratings-1, registered on replica A, in the routing set replica B serves");
            var call = await mesh.CallAsync(caller, "ratings", "/r");
            Assert.Equal(HttpStatusCode.OK, call.Status);
            Assert.StartsWith("ratings-1 GET /r", call.Body, StringComparison.Ordinal);
            Assert.Contains("ratings-1", await EtcdMesh.InstancesAsync(mesh, b));
            Assert.Contains("productpage-1", await EtcdMesh.InstancesAsync(mesh, a));

            // The member every replica talks to first dies: registrations and heartbeats go on through the others.
            etcd.Kill(0);
            var ratings2 = await mesh.StartServiceOnAsync(b, "ratings", "ratings-2");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1", "ratings-2"]),
                TimeSpan.FromSeconds(20), () => "ratings-2, registered on B with an etcd member down, routable");
            // Over two lease TTLs with the member down, no lease of a live instance runs out.
            await EtcdMesh.StaysAsync(mesh, caller, ["ratings-1", "ratings-2"]);
            Assert.Contains("ratings-1", await EtcdMesh.InstancesAsync(mesh, b));
            Assert.True(a.Process.HasLogged("etcd watch of the registry broke") && b.Process.HasLogged("etcd watch of the registry broke"),
                "both replicas watched through the killed member and moved to another");

            // SIGKILL ratings-1's sidecar: it leaves the set replica B serves (marked unreachable by A, or
            // its etcd lease runs out), and calls go to ratings-2.
            ratings1.Process.Kill();
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-2"]),
                TimeSpan.FromSeconds(15), () => "the killed ratings-1 gone from B's callers' set");
            await Eventually.ValueAsync(() => EtcdMesh.InstancesAsync(mesh, b), i => !i.Contains("ratings-1"),
                TimeSpan.FromSeconds(15), () => "ratings-1's lease expired in etcd and left replica B's registry");
            Assert.StartsWith("ratings-2 GET /r", (await mesh.CallAsync(caller, "ratings", "/r")).Body, StringComparison.Ordinal);

            // The killed member comes back from its data dir; then the raft leader is SIGKILLed: after
            // etcd's election a registration through A goes through, and no live lease lapses meanwhile.
            await etcd.RestartAsync(0);
            etcd.Kill(await etcd.LeaderAsync());
            await mesh.StartServiceAsync("ratings", "ratings-3");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-2", "ratings-3"]),
                TimeSpan.FromSeconds(20), () => "ratings-3, registered on A after the etcd leader was killed, routable from B");
            await EtcdMesh.StaysAsync(mesh, caller, ["ratings-2", "ratings-3"]);
            Assert.False(ratings2.Process.HasExited);
        });

    [Fact]
    public Task SnapshotWatch_VersionFromAnotherReplica_IsAnsweredWithAFullSnapshotAtOnce_AndAMovedSidecarSyncsThere() =>
        OnTwoReplicasAsync(async (etcd, mesh, a, b) =>
        {
            var ratings = await mesh.StartServiceAsync("ratings", "ratings-1");
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1"]),
                TimeSpan.FromSeconds(20), () => "ratings routable on replica A");

            // The worst case for a sidecar that moves: the version it holds from A is a number B uses too.
            using var identity = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(
                Path.Combine(caller.DataDir, "identity", "cert.pem"), Path.Combine(caller.DataDir, "identity", "key.pem"));
            using var client = TestCertificates.Client(identity);
            var (epochA, _) = await WatchAsync(client, a, "version=0");
            var (epochB, versionB) = await WatchAsync(client, b, "version=0");
            Assert.NotEqual(epochA, epochB);
            var started = DateTime.UtcNow;
            using (var sameNumberOtherRun = await client.GetAsync(new Uri(b.SidecarApi, $"/v1/snapshot?version={versionB}&epoch={epochA}&wait=00:00:10")))
            {
                Assert.Equal(HttpStatusCode.OK, sameNumberOtherRun.StatusCode);
                Assert.False(sameNumberOtherRun.Headers.Contains("X-Mesh-Delta"), "a full snapshot, not a delta");
                Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "answered at once, not after the wait");
            }
            using (var sameNumberSameRun = await client.GetAsync(new Uri(b.SidecarApi, $"/v1/snapshot?version={versionB}&epoch={epochB}&wait=00:00:01")))
            {
                Assert.Equal(HttpStatusCode.NotModified, sameNumberSameRun.StatusCode);
            }

            // The sidecar itself moves to B (same data dir: its certificate and snapshot from A) and is in sync there.
            caller = mesh.MoveSidecar(caller, b);
            await mesh.WaitReadyAsync(caller);
            await Eventually.TrueAsync(async () => caller.Process.HasLogged("Applied snapshot") && (await EtcdMesh.ProxyStatusOfAsync(mesh, b)).Contains("productpage-1.default SYNCED"),
                TimeSpan.FromSeconds(20), () => "the moved sidecar SYNCED on replica B");
            Assert.StartsWith("ratings-1 GET /r", (await mesh.CallAsync(caller, "ratings", "/r")).Body, StringComparison.Ordinal);

            // SIGTERM: the sidecar deregisters through A (a delete in etcd), and B drops it from its registry.
            ratings.Process.Terminate();
            await Eventually.ValueAsync(() => EtcdMesh.InstancesAsync(mesh, b), i => !i.Contains("ratings-1"),
                TimeSpan.FromSeconds(10), () => "ratings-1 deregistered and gone from replica B");
            Assert.True(a.Process.HasLogged("Deregistered ratings-1"), "removed by its deregistration, not by lease expiry");
        });

    private static async Task<(string Epoch, long Version)> WatchAsync(HttpClient client, ControlPlane cp, string query)
    {
        using var response = await client.GetAsync(new Uri(cp.SidecarApi, "/v1/snapshot?" + query));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (response.Headers.GetValues("X-Mesh-Epoch").Single(), long.Parse(response.Headers.GetValues("X-Mesh-Version").Single(), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>3 etcd members and 2 replicas on them, A the cluster's <see cref="MeshCluster.ControlPlane"/>.</summary>
    private static Task OnTwoReplicasAsync(Func<EtcdCluster, MeshCluster, ControlPlane, ControlPlane, Task> scenario) =>
        EtcdMesh.RunAsync(2, (etcd, mesh, replicas) => scenario(etcd, mesh, replicas[0], replicas[1]));
}
