using Mesh.EndToEnd.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The control plane's dashboard in a real headless Chromium (Debian's, driven by Playwright): sign in
/// with the admin token (kept in an HttpOnly, SameSite=Strict cookie, never in the URL), see the services
/// with their healthy counts, and watch an instance that dies leave the page without a reload.
/// Screenshots go to <c>TestResults/dashboard/</c>.
/// </summary>
public sealed class DashboardTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task Dashboard_SignIn_ServicesWithHealthyCounts_FollowsAnInstanceDying_WithoutReload()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: .ci/run installs Debian's chromium");
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            var v1 = await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
            await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
            await mesh.StartServiceAsync("productpage", "productpage-1");

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
            var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
            var page = await context.NewPageAsync();
            var shots = Path.Combine(RepoPaths.Root, "tests", "Mesh.EndToEnd.Tests", "TestResults", "dashboard");
            Directory.CreateDirectory(shots);
            var ui = new Uri(cp.Admin, "/ui").ToString();

            // Without the cookie: the sign-in form, and no data.
            await page.GotoAsync(ui);
            await Assertions.Expect(page.Locator("#sign-in")).ToBeVisibleAsync();
            Assert.False(await page.Locator("#app").IsVisibleAsync());
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "1-sign-in.png") });

            // A wrong token is refused; the right one signs in. Neither is ever in the URL.
            await page.FillAsync("input[name=token]", "mesh-admin.wrong");
            await page.ClickAsync("#sign-in button[type=submit]");
            await Assertions.Expect(page.Locator("#sign-in-failed")).ToBeVisibleAsync();
            await page.FillAsync("input[name=token]", mesh.AdminToken);
            await page.ClickAsync("#sign-in button[type=submit]");
            await Assertions.Expect(page.Locator("#app")).ToBeVisibleAsync();
            Assert.DoesNotContain(mesh.AdminToken, page.Url, StringComparison.Ordinal);
            var cookie = Assert.Single(await context.CookiesAsync(), c => c.Name == "mesh-admin");
            Assert.True(cookie.HttpOnly, "the admin cookie is HttpOnly");
            Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
            Assert.Equal("undefined", await page.EvaluateAsync<string>("() => typeof document.cookie.split('; ').find(c => c.startsWith('mesh-admin='))"));

            // The services with their healthy counts, the instances, the sidecars' sync state and the CA.
            var reviews = page.Locator("#services tbody tr", new PageLocatorOptions { HasText = "reviews.default" });
            await Assertions.Expect(reviews).ToContainTextAsync("2/2");
            await Assertions.Expect(page.Locator("#services tbody tr", new PageLocatorOptions { HasText = "productpage.default" })).ToContainTextAsync("1/1");
            await Assertions.Expect(page.Locator("#instances tbody")).ToContainTextAsync("reviews-v2");
            await Assertions.Expect(page.Locator("#instances tbody")).ToContainTextAsync("version=v2");
            await Assertions.Expect(page.Locator("#proxies tbody")).ToContainTextAsync("SYNCED");
            await Assertions.Expect(page.Locator("#ca dl")).ToContainTextAsync("cluster.local");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "2-services.png"), FullPage = true });

            // An instance dies: the page follows within a few seconds, with no reload.
            var navigations = 0;
            page.FrameNavigated += (_, frame) => navigations += frame == page.MainFrame ? 1 : 0;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            v1.Process.Kill();
            await Assertions.Expect(reviews).ToContainTextAsync("1/", new LocatorAssertionsToContainTextOptions { Timeout = 10_000 });
            output.WriteLine($"instance killed to the page showing it: {clock.ElapsedMilliseconds} ms");
            Assert.Equal(0, navigations);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "3-instance-gone.png"), FullPage = true });

            // Signed out, the data is gone again.
            await page.ClickAsync("#sign-out button");
            await Assertions.Expect(page.Locator("#sign-in")).ToBeVisibleAsync();
        });
    }
}
