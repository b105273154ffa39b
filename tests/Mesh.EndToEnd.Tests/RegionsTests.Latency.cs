using System.Net;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>Among remote regions the locality rules rank equal, callers prefer the one with the lower measured round trip.</summary>
public sealed partial class RegionsTests
{
    [Fact]
    public async Task EqualRemoteRegions_TheNearerByMeasuredRoundTripTakesTheCalls_VisibleOnClusters()
    {
        await using var regions = new PeeredRegions(output, "east", "west", "south");
        var (east, west, south) = (regions["east"], regions["west"], regions["south"]);
        await regions.RunAsync(async () =>
        {
            await regions.StartControlPlanesAsync();
            west.WriteConfig("exports.yaml", Exports);
            south.WriteConfig("exports.yaml", Exports);
            // Locality on (outlier detection), no failover order: west and south are equally far by the rules.
            east.WriteConfig("ratings.yaml", """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: ratings, namespace: default}
                spec:
                  host: ratings
                  trafficPolicy:
                    outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: 10s}
                """);
            // This kernel has no netem: west's latency is its app's, 40 ms on every call (where tc netem exists a delay on
            // west's veth does the same); south answers at once.
            await west.StartServiceWithAppArgsAsync("ratings", "ratings-west-1", ["--delay-ms", "40"]);
            await south.StartServiceAsync("ratings", "ratings-south-1");
            var caller = east.StartSidecar("productpage", "productpage-east-1", 0);
            await east.WaitReadyAsync(caller);
            await regions.PeerAsync(acceptor: "west", dialer: "east");
            await regions.PeerAsync(acceptor: "south", dialer: "east");
            await Eventually.ValueAsync(() => east.EndpointsAsync(caller, "ratings.default"), e => e.Length == 2, TimeSpan.FromSeconds(30),
                () => "east's caller holds both remote regions' ratings");

            // Warm-up: every region gets measured (an unmeasured one goes first). A callee refuses the first handshake
            // from a region peered since its last bundle fetch, and fetches east's root then (docs/regions.md).
            var inARow = 0;
            await Eventually.TrueAsync(async () =>
            {
                inARow = (await east.CallAsync(caller, "ratings", "/r")).Status == HttpStatusCode.OK ? inARow + 1 : 0;
                return inARow >= 20;
            }, TimeSpan.FromSeconds(30), () => "20 calls in a row answered");
            // The averages settle within a few seconds of calls (a cold first sample is forgotten after 5 s without another).
            await Eventually.TrueAsync(async () =>
            {
                var (status, body, _) = await east.CallAsync(caller, "ratings", "/r");
                var rtt = await RoundTripsAsync(east, caller);
                return rtt.Count == 2 && rtt["ratings-south-1@south"] + 20 < rtt["ratings-west-1@west"];
            }, TimeSpan.FromSeconds(60), () => "east's caller measures south nearer than west");
            var answeredBy = new Dictionary<string, int>(StringComparer.Ordinal) { ["ratings-west-1"] = 0, ["ratings-south-1"] = 0 };
            for (var i = 0; i < 200; i++)
            {
                var (status, body, _) = await east.CallAsync(caller, "ratings", "/r");
                Assert.Equal(HttpStatusCode.OK, status);
                answeredBy[body.Split(' ')[0]]++;
            }
            var rtt = await RoundTripsAsync(east, caller);
            output.WriteLine($"200 calls from east: {answeredBy["ratings-south-1"]} to south, {answeredBy["ratings-west-1"]} to west; /clusters rttMs: " +
                string.Join(", ", rtt.Select(r => $"{r.Key} {r.Value:F1}")));
            Assert.True(rtt["ratings-west-1@west"] > 40, "west's measured round trip carries its 40 ms");
            // All but the exploring share (2%) go to the nearer region.
            Assert.True(answeredBy["ratings-south-1"] >= 190, $"south (nearer) answered {answeredBy["ratings-south-1"]} of 200");
        });
    }

    /// <summary>The round-trip averages the caller's /clusters shows for ratings' endpoints (those measured).</summary>
    private static async Task<Dictionary<string, double>> RoundTripsAsync(MeshCluster mesh, Sidecar caller)
    {
        using var clusters = JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/clusters")));
        return clusters.RootElement.EnumerateArray().Single(c => c.GetProperty("cluster").GetString() == "ratings.default").GetProperty("endpoints")
            .EnumerateArray().Where(e => e.TryGetProperty("rttMs", out var v) && v.ValueKind == JsonValueKind.Number)
            .ToDictionary(e => e.GetProperty("instance").GetString()!, e => e.GetProperty("rttMs").GetDouble());
    }
}
