using System.Net;
using Mesh.EndToEnd.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Mesh.EndToEnd.Tests;

/// <summary>The importing region's dashboard, in a real headless Chromium: its peerings with their state, and what it imports marked stale while the peer is away.</summary>
public sealed partial class RegionsTests
{
    [Fact]
    public async Task Dashboard_PeerControlPlaneKilled_ShowsThePeeringAndItsImportedInstancesStale_FreshWhenItIsBack()
    {
        Assert.True(File.Exists(DashboardTests.Chromium), $"{DashboardTests.Chromium} is missing: .ci/run installs Debian's chromium");
        await using var regions = new PeeredRegions(output, "east", "west");
        var (east, west) = (regions["east"], regions["west"]);
        await regions.RunAsync(async () =>
        {
            var caller = await EastCallsWestsRatingsAsync(regions);

            using var playwright = await Playwright.CreateAsync();
            // The browser runs in east's namespace: east's admin port is on east's own loopback.
            await using var browser = await DashboardTests.LaunchAsync(playwright, regions.RegionOf("east").Netns);
            var page = await DashboardTests.SignedInAsync(browser, east.ControlPlane!.Admin, east.AdminToken);
            var peering = page.Locator("#peerings tr:has(td[data-peer='west'])");
            var imported = page.Locator("#imported tr:has(td[data-instance='ratings-west-1@west'])");
            await Assertions.Expect(peering).ToContainTextAsync("ACTIVE");
            await Assertions.Expect(peering).ToContainTextAsync("SYNCED");
            await Assertions.Expect(peering).ToContainTextAsync("west.example");
            await Assertions.Expect(peering).ToContainTextAsync("1/1");
            await Assertions.Expect(imported).ToContainTextAsync("ratings.default");
            await Assertions.Expect(imported).ToContainTextAsync("fresh");
            await Assertions.Expect(imported).ToContainTextAsync("west.example");
            await page.Locator("#peerings").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(DashboardTests.Shots, "9-peering-synced.png") });

            // West's control plane dies: without a reload the page shows the peering and its import stale; calls still go.
            var navigations = 0;
            page.FrameNavigated += (_, frame) => navigations += frame == page.MainFrame ? 1 : 0;
            west.ControlPlane!.Process.Kill();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await Assertions.Expect(peering).ToContainTextAsync("STALE", new LocatorAssertionsToContainTextOptions { Timeout = 15_000 });
            await Assertions.Expect(imported).ToContainTextAsync("stale", new LocatorAssertionsToContainTextOptions { Timeout = 10_000 });
            await Assertions.Expect(page.Locator("#peerings .summary")).ToContainTextAsync("1 with its control plane away");
            output.WriteLine($"west's control plane killed to east's dashboard showing its imports stale: {clock.ElapsedMilliseconds} ms");
            Assert.Equal(HttpStatusCode.OK, (await east.CallAsync(caller, "ratings", "/r")).Status);
            await page.Locator("#peerings").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(DashboardTests.Shots, "10-peering-stale.png") });

            // Back: fresh again.
            await west.RestartControlPlaneAsync();
            await Assertions.Expect(peering).ToContainTextAsync("SYNCED", new LocatorAssertionsToContainTextOptions { Timeout = 30_000 });
            await Assertions.Expect(imported).ToContainTextAsync("fresh", new LocatorAssertionsToContainTextOptions { Timeout = 10_000 });
            Assert.Equal(0, navigations);
        });
    }
}
