using System.Net;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Regions (issue 27): a control plane per region, each with its own trust domain and CA, in network namespaces
/// of their own; peered with meshctl; a service exported by one region called from a sidecar of the other over
/// mutual TLS, with the caller's own SPIFFE id seen (and authorized) by the callee.
/// </summary>
public sealed partial class RegionsTests(ITestOutputHelper output)
{
    internal const string Exports = """
        apiVersion: peering.mesh.dev/v1alpha1
        kind: ExportedServices
        metadata: {name: to-east, namespace: default}
        spec:
          services:
          - name: ratings
            consumers: [{peer: east}]
        """;

    [Fact]
    public async Task ExportedService_CalledFromAPeeredRegion_OverMutualTlsWithTheCallersOwnIdentity()
    {
        await using var regions = new PeeredRegions(output, "east", "west");
        var (east, west) = (regions["east"], regions["west"]);
        await regions.RunAsync(async () =>
        {
            await regions.StartControlPlanesAsync();
            west.WriteConfig("exports.yaml", Exports);
            var ratings = await west.StartServiceAsync("ratings", "ratings-west-1");
            var caller = east.StartSidecar("productpage", "productpage-east-1", 0);
            await east.WaitReadyAsync(caller);

            // Before peering, east knows no ratings.
            var (status, _, _) = await east.CallAsync(caller, "ratings", "/");
            Assert.Equal(HttpStatusCode.NotFound, status);

            await regions.PeerAsync(acceptor: "west", dialer: "east");

            // east imports west's ratings: routed across the regions, mutual TLS both ways with each side's own root.
            var body = await Eventually.ValueAsync(async () => await east.CallAsync(caller, "ratings", "/r"), r => r.Status == HttpStatusCode.OK,
                TimeSpan.FromSeconds(30), () => "east's caller never reached west's ratings");
            Assert.Equal("ratings-west-1 GET /r", body.Body);
            using (var clusters = JsonDocument.Parse(await east.Http.GetStringAsync(new Uri(caller.Admin, "/clusters"))))
            {
                var endpoint = clusters.RootElement.EnumerateArray().Single(c => c.GetProperty("cluster").GetString() == "ratings.default")
                    .GetProperty("endpoints").EnumerateArray().Single();
                Assert.Equal("ratings-west-1@west", endpoint.GetProperty("instance").GetString());
                Assert.Equal("west", endpoint.GetProperty("region").GetString());
                Assert.Equal("west", endpoint.GetProperty("peer").GetString());
                Assert.False(endpoint.GetProperty("stale").GetBoolean());
                Assert.Contains(regions.RegionOf("west").Address, endpoint.GetProperty("address").GetString(), StringComparison.Ordinal);
            }
            Assert.True(caller.Process.HasLogged("Federated trust: accepting identities of west.example"), "the caller trusts west's root");
            Assert.True(ratings.Process.HasLogged("Federated trust: accepting identities of east.example"), "the callee trusts east's root");

            // Both sides list the peering; west exports one service to east, east imports its one instance.
            var eastPeering = Assert.Single(await regions.PeeringsAsync("east"));
            Assert.Equal(("west", "dialer", "ACTIVE", "west.example", 1, 1), (eastPeering.GetProperty("name").GetString(), eastPeering.GetProperty("role").GetString(),
                eastPeering.GetProperty("state").GetString(), eastPeering.GetProperty("trustDomain").GetString(), eastPeering.GetProperty("importedInstances").GetInt32(),
                eastPeering.GetProperty("healthyImported").GetInt32()));
            var westPeering = Assert.Single(await regions.PeeringsAsync("west"));
            Assert.Equal(("east", "acceptor", "ACTIVE", "east.example", 1), (westPeering.GetProperty("name").GetString(), westPeering.GetProperty("role").GetString(),
                westPeering.GetProperty("state").GetString(), westPeering.GetProperty("trustDomain").GetString(), westPeering.GetProperty("exportedServices").GetInt32()));
            Assert.DoesNotContain("secret", JsonSerializer.Serialize(westPeering), StringComparison.OrdinalIgnoreCase);
            var (code, list) = await regions.MeshctlAsync("east", "peering", "list");
            Assert.True(code == 0, list);
            Assert.Matches(@"west\s+dialer\s+ACTIVE\s+west\.example\s+west\s+0\s+1\s+1\s+no", list);

            // What crossing the regions adds to a call: east's own reviews against west's ratings, one caller, one call at a time.
            await east.StartServiceAsync("reviews", "reviews-east-1");
            await Eventually.TrueAsync(async () => (await east.CallAsync(caller, "reviews", "/r")).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30), () => "east's own reviews");
            var (local, remote) = await LatenciesAsync(east, caller, "reviews", "ratings", 300);
            output.WriteLine($"one call at a time from east's sidecar, 300 each, alternating, after 50 each to warm up: local p50 {local.P50:F2} ms, p99 {local.P99:F2} ms; to west p50 {remote.P50:F2} ms, p99 {remote.P99:F2} ms; " +
                $"crossing the regions adds {remote.P50 - local.P50:F2} ms at p50 ({(regions.Network.Isolated ? "veth and bridge, no netem delay" : "loopback")})");

            // AuthorizationPolicy in west naming east's principal (east's trust domain) allows it...
            await west.ApplyConfigAsync("policy.yaml", Policy("ALLOW", "east.example/ns/default/sa/productpage"));
            Assert.Equal(HttpStatusCode.OK, (await east.CallAsync(caller, "ratings", "/r")).Status);
            // ...the same namespace and service account in west's own trust domain is another principal: denied...
            await west.ApplyConfigAsync("policy.yaml", Policy("ALLOW", "west.example/ns/default/sa/productpage"));
            var denied = await east.CallAsync(caller, "ratings", "/r");
            Assert.Equal(HttpStatusCode.Forbidden, denied.Status);
            Assert.Equal("rbac-denied", denied.Response.Headers.GetValues("x-mesh-error").Single());
            // ...and a DENY naming east's principal denies it, logged with the caller's remote SPIFFE id.
            await west.ApplyConfigAsync("policy.yaml", Policy("DENY", "east.example/ns/default/sa/productpage"));
            Assert.Equal(HttpStatusCode.Forbidden, (await east.CallAsync(caller, "ratings", "/admin/requests")).Status);
            await Eventually.TrueAsync(() => Task.FromResult(ratings.Process.HasLogged("Denied GET /admin/requests from spiffe://east.example/ns/default/sa/productpage")),
                TimeSpan.FromSeconds(5), () => "west's ratings logs the denial with east's identity");
        });
    }

    /// <summary>p50 and p99 in milliseconds of sequential calls to two hosts, alternating (so both see the same machine), after a warm-up; every call must succeed.</summary>
    private static async Task<((double P50, double P99) A, (double P50, double P99) B)> LatenciesAsync(MeshCluster mesh, Sidecar from, string a, string b, int count)
    {
        var times = new Dictionary<string, List<double>> { [a] = [], [b] = [] };
        for (var i = 0; i < count + 50; i++)
        {
            foreach (var host in (string[])[a, b])
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var (status, body, response) = await mesh.CallAsync(from, host, "/r");
                var elapsed = clock.Elapsed.TotalMilliseconds;
                response.Dispose();
                Assert.True(status == HttpStatusCode.OK, $"{host}: {(int)status} {body}");
                if (i >= 50)
                {
                    times[host].Add(elapsed);
                }
            }
        }
        times[a].Sort();
        times[b].Sort();
        return ((Percentile(times[a], 0.50), Percentile(times[a], 0.99)), (Percentile(times[b], 0.50), Percentile(times[b], 0.99)));
    }

    private static string Policy(string action, string principal) => $$$"""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: ratings-callers, namespace: default}
        spec:
          selector: {matchLabels: {app: ratings}}
          action: {{{action}}}
          rules:
          - from: [{source: {principals: ["{{{principal}}}"]}}]
        """;
}
