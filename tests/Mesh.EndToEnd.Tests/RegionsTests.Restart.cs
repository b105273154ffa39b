using System.Net;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>The importing region's control plane restarted while its peer is down: the peer's last known instances are kept across it.</summary>
public sealed partial class RegionsTests
{
    [Fact]
    public async Task ImporterRestartedWhilePeerIsDown_CallersKeepRoutingToThePeersLastKnownInstances_ResyncedWhenThePeerIsBack()
    {
        await using var regions = new PeeredRegions(output, "east", "west");
        var east = regions["east"];
        await regions.RunAsync(async () =>
        {
            var caller = await EastCallsWestsRatingsAsync(regions);
            var (load, _) = await WestControlPlaneKilledUnderLoadAsync(regions, caller);

            // East's control plane SIGKILLed and started again while west's is still down: it has only what it kept.
            var restartedAt = load.Now;
            var eastCp = await east.RestartControlPlaneAsync();
            Assert.True(eastCp.Process.HasLogged("Restored 1 instance(s) last imported from peer 'west', stale until it answers"), "east restores west's last import");
            var peering = Single(await regions.PeeringsAsync("east"));
            Assert.Equal((true, 1, 1), (peering.GetProperty("stale").GetBoolean(), peering.GetProperty("importedInstances").GetInt32(), peering.GetProperty("healthyImported").GetInt32()));
            // The caller is in sync with the restarted control plane, and still holds west's instance, stale.
            await Eventually.ValueAsync(east.ProxyStatusAsync, s => s.Any(p => p.GetProperty("node").GetString()!.StartsWith("productpage-east-1", StringComparison.Ordinal)
                && p.GetProperty("status").GetString() == "SYNCED"), TimeSpan.FromSeconds(30), () => "the caller syncs with east's restarted control plane");
            await Eventually.TrueAsync(() => EndpointStaleAsync(east, caller, "ratings-west-1@west"), TimeSpan.FromSeconds(10), () => "the caller holds west's instance, stale");
            await load.WaitForAsync(c => c.Ok && c.Start > restartedAt, 100, TimeSpan.FromSeconds(30), "answered by west's ratings after east's control plane restarted");

            // West back: re-synced, fresh.
            await WestBackAsync(regions, caller);
            var calls = await load.StopAsync();

            var failed = calls.Where(c => !c.Ok).ToArray();
            output.WriteLine($"east's control plane SIGKILLed and restarted with west's down: {calls.Count} calls through it all, {calls.Count(c => c.Start > restartedAt)} after the restart, {failed.Length} failed");
            Assert.True(failed.Length == 0, $"{failed.Length} calls failed: {string.Join("; ", failed.Take(5))}");
            Assert.All(calls, c => Assert.StartsWith("ratings-west-1 ", c.Body, StringComparison.Ordinal));
        });
    }
}
