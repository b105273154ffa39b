using System.Net;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Every etcd member down for 30 s (issue 22's test 6): 3 real etcd members SIGKILLed and started again
/// under 2 replicas and real sidecars on loopback.
/// </summary>
public sealed class EtcdOutageTests
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(30);

    [Fact]
    public Task EtcdDown_WatchesAndDataPathGoOn_WritesGet503NamingEtcd_EverythingCatchesUpWhenItReturns() =>
        EtcdMesh.RunAsync(2, async (etcd, mesh, replicas) =>
        {
            var (a, b) = (replicas[0], replicas[1]);
            await mesh.StartServiceAsync("ratings", "ratings-1");
            var caller = await mesh.StartServiceOnAsync(b, "productpage", "productpage-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1"]),
                TimeSpan.FromSeconds(20), () => "ratings routable from B's caller");

            for (var i = 0; i < 3; i++)
            {
                etcd.Kill(i);
            }
            var until = DateTime.UtcNow + Outage;
            while (DateTime.UtcNow < until)
            {
                // Replicas serve what they hold; sidecars route on.
                var call = await mesh.CallAsync(caller, "ratings", "/r");
                Assert.Equal(HttpStatusCode.OK, call.Status);
                Assert.Equal(["ratings-1"], await mesh.EndpointsAsync(caller, "ratings.default"));
                Assert.Contains("productpage-1.default SYNCED", await EtcdMesh.ProxyStatusOfAsync(mesh, b));
                await Task.Delay(500);
            }
            // A write: refused, naming etcd, and nothing applied.
            using (var refused = await ApplyAsync(mesh, b))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                Assert.Contains("etcd did not answer", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            await etcd.RestartAllAsync();
            // Caught up: writes go through again, a new instance registers through A and is routed from B, and
            // the instance renewed before the outage is still there.
            await Eventually.ValueAsync(async () => (await ApplyAsync(mesh, b)).StatusCode, s => s == HttpStatusCode.OK,
                TimeSpan.FromSeconds(30), () => "an apply through B once etcd is back");
            await mesh.StartServiceAsync("ratings", "ratings-2");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1", "ratings-2"]),
                TimeSpan.FromSeconds(30), () => "ratings-2, registered after the outage, routable; ratings-1 still there");
            Assert.Contains("ratings-1", await EtcdMesh.InstancesAsync(mesh, b));
        });

    private static Task<HttpResponseMessage> ApplyAsync(MeshCluster mesh, ControlPlane cp)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(cp.Admin, "/v1/apply?file=vs.yaml"))
        {
            Content = new StringContent("""
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: ratings-timeout}
                spec: {hosts: [ratings], http: [{timeout: 3s, route: [{destination: {host: ratings}}]}]}
                """),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(cp));
        return mesh.Http.SendAsync(request);
    }
}
