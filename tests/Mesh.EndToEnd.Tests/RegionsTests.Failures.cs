using System.Net;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>Losing a region: its control plane killed, its instances killed under load, a partition between regions.</summary>
public sealed partial class RegionsTests
{
    /// <summary>East prefers west, then south, for ratings (the locality failover order), with outlier detection on.</summary>
    private const string EastPrefersWest = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: ratings, namespace: default}
        spec:
          host: ratings
          trafficPolicy:
            outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: 10s}
            loadBalancer:
              localityLbSetting:
                failover: [{from: east, to: west}]
        """;

    [Fact]
    public async Task PeerControlPlaneKilled_ImportedInstancesStayRoutableMarkedStale_ResyncedWhenItIsBack()
    {
        await using var regions = new PeeredRegions(output, "east", "west");
        var (east, west) = (regions["east"], regions["west"]);
        await regions.RunAsync(async () =>
        {
            var caller = await EastCallsWestsRatingsAsync(regions);
            var (load, killed) = await WestControlPlaneKilledUnderLoadAsync(regions, caller);
            var staleAt = load.Now;
            await Eventually.TrueAsync(() => EndpointStaleAsync(east, caller, "ratings-west-1@west"), TimeSpan.FromSeconds(10),
                () => "east's caller keeps the endpoint and shows it stale on /clusters");
            // Calls go on to the last known instance while west's control plane is away.
            await load.WaitForAsync(c => c.Ok && c.Start > staleAt, 100, TimeSpan.FromSeconds(30), "answered by west's ratings with its control plane dead");

            await WestBackAsync(regions, caller);
            var calls = await load.StopAsync();

            var failed = calls.Where(c => !c.Ok).ToArray();
            output.WriteLine($"west's control plane SIGKILLed: imports marked stale {(staleAt - killed).TotalMilliseconds:F0} ms later; {calls.Count} calls through it all, {failed.Length} failed");
            Assert.True(failed.Length == 0, $"{failed.Length} calls failed: {string.Join("; ", failed.Take(5))}");
            Assert.All(calls, c => Assert.StartsWith("ratings-west-1 ", c.Body, StringComparison.Ordinal));
        });
    }

    [Fact]
    public async Task PeerRegionsInstancesKilledUnderLoad_CallersFailOverToTheNextRegionWithinASecond()
    {
        await using var regions = new PeeredRegions(output, "east", "west", "south");
        var (east, west, south) = (regions["east"], regions["west"], regions["south"]);
        await regions.RunAsync(async () =>
        {
            await regions.StartControlPlanesAsync();
            west.WriteConfig("exports.yaml", Exports);
            south.WriteConfig("exports.yaml", Exports);
            east.WriteConfig("ratings.yaml", EastPrefersWest);
            var westRatings = await west.StartServiceAsync("ratings", "ratings-west-1");
            await south.StartServiceAsync("ratings", "ratings-south-1");
            var caller = east.StartSidecar("productpage", "productpage-east-1", 0);
            await east.WaitReadyAsync(caller);
            await regions.PeerAsync(acceptor: "west", dialer: "east");
            await regions.PeerAsync(acceptor: "south", dialer: "east");

            const int trials = 5;
            var failovers = new List<double>();
            var (total, failedTotal) = (0, 0);
            for (var trial = 1; trial <= trials; trial++)
            {
                await Eventually.TrueAsync(async () => (await east.CallAsync(caller, "ratings", "/r")).Body.StartsWith("ratings-west-1 ", StringComparison.Ordinal),
                    TimeSpan.FromSeconds(45), () => $"trial {trial}: east prefers west's ratings");
                var load = new RecordedLoad(east, caller, "ratings", "/r", workers: 4);
                await load.WaitForAsync(c => c.Body.StartsWith("ratings-west-1 ", StringComparison.Ordinal), 50, TimeSpan.FromSeconds(20), "answered by west");
                westRatings.Process.Kill();
                west.KillApp("ratings-west-1");
                var killed = load.Now;
                await load.WaitForAsync(c => c.Start > killed && c.Body.StartsWith("ratings-south-1 ", StringComparison.Ordinal), 20, TimeSpan.FromSeconds(20), "answered by south after the kill");
                var firstSouth = load.Calls.Where(c => c.Start > killed && c.Body.StartsWith("ratings-south-1 ", StringComparison.Ordinal)).Min(c => c.End);
                // Keep the load on a while: the control planes' view of the death arrives after the first failover.
                await Task.Delay(TimeSpan.FromSeconds(2));
                var calls = await load.StopAsync();
                var after = calls.Where(c => c.End > killed).ToArray();
                var failed = after.Where(c => !c.Ok).ToArray();
                failovers.Add((firstSouth - killed).TotalMilliseconds);
                total += after.Length;
                failedTotal += failed.Length;
                output.WriteLine($"trial {trial}: west's ratings SIGKILLed; first answer from south {(firstSouth - killed).TotalMilliseconds:F0} ms later; {after.Length} calls after the kill, {failed.Length} failed{(failed.Length > 0 ? ": " + string.Join("; ", failed.Take(3).Select(f => $"{f.Status} {f.Body}")) : "")}");

                west.StartApp("ratings-west-1", westRatings.AppPort);
                westRatings = west.RestartSidecar(westRatings);
                await west.WaitReadyAsync(westRatings);
            }
            failovers.Sort();
            var p50 = Percentile(failovers, 0.50);
            var p99 = Percentile(failovers, 0.99);
            output.WriteLine($"failover to the next region over {trials} trials: p50 {p50:F0} ms, p99 {p99:F0} ms (all: {string.Join(", ", failovers.Select(f => $"{f:F0}"))} ms); {failedTotal} of {total} calls failed ({100.0 * failedTotal / Math.Max(1, total):F3}%)");
            Assert.True(failovers.Max() <= 1000, $"failover took {failovers.Max():F0} ms, more than 1 s");
            Assert.True(failedTotal * 1000 <= total, $"{failedTotal} of {total} calls failed, more than 0.1%");
        });
    }

    [Fact]
    public async Task Partition_NeverRemovesARegionsOwnInstances_ImportsStaleUntilItHeals()
    {
        await using var regions = new PeeredRegions(output, "east", "west");
        var (east, west) = (regions["east"], regions["west"]);
        await regions.RunAsync(async () =>
        {
            await regions.StartControlPlanesAsync();
            west.WriteConfig("exports.yaml", Exports);
            east.WriteConfig("ratings.yaml", EastPrefersWest); // east's own region first
            await west.StartServiceAsync("ratings", "ratings-west-1");
            await east.StartServiceAsync("ratings", "ratings-east-1");
            var caller = east.StartSidecar("productpage", "productpage-east-1", 0);
            await east.WaitReadyAsync(caller);
            await regions.PeerAsync(acceptor: "west", dialer: "east");
            await Eventually.ValueAsync(() => east.EndpointsAsync(caller, "ratings.default"), e => e.Length == 2, TimeSpan.FromSeconds(30),
                () => "east's caller holds its own ratings and west's");

            var load = new RecordedLoad(east, caller, "ratings", "/r", workers: 2);
            await load.WaitForAsync(c => c.Ok, 50, TimeSpan.FromSeconds(20), "answered before the partition");
            var region = regions.RegionOf("west");
            var how = regions.Network.Isolated ? "west's veth down" : "west's control plane SIGSTOPped (no namespaces to cut)";
            Cut(regions, region, west, cut: true);
            var cutAt = load.Now;
            await Eventually.TrueAsync(async () => Single(await regions.PeeringsAsync("east")).GetProperty("stale").GetBoolean(), TimeSpan.FromSeconds(20),
                () => "east marks west's imports stale during the partition");
            // Longer than a lease: neither region's own instances go anywhere.
            await Task.Delay(MeshCluster.LeaseTtl * 2);
            Assert.Equal(["ratings-east-1", "ratings-west-1@west"], await east.EndpointsAsync(caller, "ratings.default"));
            await Eventually.TrueAsync(() => EndpointStaleAsync(east, caller, "ratings-west-1@west"), TimeSpan.FromSeconds(10), () => "west's instance is kept, stale");
            Assert.False(await EndpointStaleAsync(east, caller, "ratings-east-1"), "east's own is not");
            Assert.Contains("ratings-east-1", await InstanceIdsAsync(east));
            if (regions.Network.Isolated)
            {
                Assert.Contains("ratings-west-1", await InstanceIdsAsync(west));
            }
            Cut(regions, region, west, cut: false);
            var healedAt = load.Now;
            await Eventually.TrueAsync(async () => !Single(await regions.PeeringsAsync("east")).GetProperty("stale").GetBoolean(), TimeSpan.FromSeconds(30),
                () => "east re-syncs west's imports after the partition heals");
            var resynced = load.Now;
            var calls = await load.StopAsync();

            var during = calls.Where(c => c.Start > cutAt && c.End < healedAt).ToArray();
            var failed = calls.Where(c => !c.Ok).ToArray();
            output.WriteLine($"partition ({how}) for {(healedAt - cutAt).TotalSeconds:F1} s: {during.Length} calls during it, {calls.Count} in all, {failed.Length} failed; re-synced {(resynced - healedAt).TotalMilliseconds:F0} ms after healing");
            Assert.True(during.Length > 20, $"the load ran during the partition ({during.Length} calls)");
            Assert.True(failed.Length == 0, $"{failed.Length} calls failed: {string.Join("; ", failed.Take(5))}");
        });
    }

    /// <summary>
    /// Both control planes, west's ratings exported to east, a caller in east, the two peered (west accepting), and
    /// east's caller answered by west's ratings; returns the caller.
    /// </summary>
    private static async Task<Sidecar> EastCallsWestsRatingsAsync(PeeredRegions regions)
    {
        var (east, west) = (regions["east"], regions["west"]);
        await regions.StartControlPlanesAsync();
        west.WriteConfig("exports.yaml", Exports);
        await west.StartServiceAsync("ratings", "ratings-west-1");
        var caller = east.StartSidecar("productpage", "productpage-east-1", 0);
        await east.WaitReadyAsync(caller);
        await regions.PeerAsync(acceptor: "west", dialer: "east");
        await Eventually.TrueAsync(async () => (await east.CallAsync(caller, "ratings", "/r")).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30), () => "east reaches west's ratings");
        return caller;
    }

    /// <summary>Load from east's caller to west's ratings, then west's control plane SIGKILLed; returns once east marks the imports stale.</summary>
    private static async Task<(RecordedLoad Load, TimeSpan KilledAt)> WestControlPlaneKilledUnderLoadAsync(PeeredRegions regions, Sidecar caller)
    {
        var load = new RecordedLoad(regions["east"], caller, "ratings", "/r", workers: 2);
        await load.WaitForAsync(c => c.Ok, 50, TimeSpan.FromSeconds(20), "answered before west's control plane was killed");
        regions["west"].ControlPlane!.Process.Kill();
        var killed = load.Now;
        await Eventually.TrueAsync(async () => Single(await regions.PeeringsAsync("east")).GetProperty("stale").GetBoolean(), TimeSpan.FromSeconds(15),
            () => "east marks west's imports stale");
        return (load, killed);
    }

    /// <summary>West's control plane started again: east re-syncs its imports, and east's caller holds them fresh.</summary>
    private static async Task WestBackAsync(PeeredRegions regions, Sidecar caller)
    {
        await regions["west"].RestartControlPlaneAsync();
        await Eventually.TrueAsync(async () => !Single(await regions.PeeringsAsync("east")).GetProperty("stale").GetBoolean(), TimeSpan.FromSeconds(30),
            () => "east re-syncs west's imports once west's control plane is back");
        await Eventually.TrueAsync(async () => !await EndpointStaleAsync(regions["east"], caller, "ratings-west-1@west"), TimeSpan.FromSeconds(10), () => "the endpoint is fresh again on /clusters");
    }

    private static void Cut(PeeredRegions regions, Region region, MeshCluster cluster, bool cut)
    {
        if (regions.Network.Isolated)
        {
            regions.Network.Partition(region, cut);
        }
        else
        {
            cluster.ControlPlane!.Process.Signal(cut ? "STOP" : "CONT");
        }
    }

    private static JsonElement Single(JsonElement[] peerings) => Assert.Single(peerings);

    private static double Percentile(List<double> sorted, double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static async Task<bool> EndpointStaleAsync(MeshCluster mesh, Sidecar sidecar, string instance)
    {
        using var doc = JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(sidecar.Admin, "/clusters")));
        return doc.RootElement.EnumerateArray().SelectMany(c => c.GetProperty("endpoints").EnumerateArray())
            .First(e => e.GetProperty("instance").GetString() == instance).GetProperty("stale").GetBoolean();
    }

    private static async Task<string[]> InstanceIdsAsync(MeshCluster mesh)
    {
        using var doc = JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(mesh.ControlPlane!.Admin, "/v1/instances")));
        return [.. doc.RootElement.EnumerateArray().Select(i => i.GetProperty("instanceId").GetString()!)];
    }
}
