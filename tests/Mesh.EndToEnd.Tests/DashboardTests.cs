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
    internal const string Chromium = "/usr/bin/chromium";

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
            await using var browser = await LaunchAsync(playwright);
            var context = await NewContextAsync(browser);
            var page = await context.NewPageAsync();
            var ui = new Uri(cp.Admin, "/ui").ToString();

            // Without the cookie: the sign-in form, and no data.
            await page.GotoAsync(ui);
            await Assertions.Expect(page.Locator("#sign-in")).ToBeVisibleAsync();
            Assert.False(await page.Locator("#app").IsVisibleAsync());
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Shots, "1-sign-in.png") });

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
            // Lease times are the last renewal's, not the registration's: a live instance's lease has not lapsed.
            await Assertions.Expect(page.Locator("#instances tbody tr", new PageLocatorOptions { HasText = "reviews-v2" })).Not.ToContainTextAsync("lapsed");
            await Assertions.Expect(page.Locator("#proxies tbody")).ToContainTextAsync("SYNCED");
            await Assertions.Expect(page.Locator("#ca dl")).ToContainTextAsync("cluster.local");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Shots, "2-services.png"), FullPage = true });

            // An instance dies: the page follows within a few seconds, with no reload.
            var navigations = 0;
            page.FrameNavigated += (_, frame) => navigations += frame == page.MainFrame ? 1 : 0;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            v1.Process.Kill();
            await Assertions.Expect(reviews).ToContainTextAsync("1/", new LocatorAssertionsToContainTextOptions { Timeout = 10_000 });
            output.WriteLine($"instance killed to the page showing it: {clock.ElapsedMilliseconds} ms");
            Assert.Equal(0, navigations);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Shots, "3-instance-gone.png"), FullPage = true });

            // Signed out, the data is gone again.
            await page.ClickAsync("#sign-out button");
            await Assertions.Expect(page.Locator("#sign-in")).ToBeVisibleAsync();
        });
    }

    /// <summary>The History section: a change applied through the API shows with its diff; Rollback asks first, then restores the routing, and calls follow.</summary>
    [Fact]
    public async Task Dashboard_History_ShowsAnAppliedChange_RollbackAfterConfirmation_RestoresTheRouting_CallsFollow()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: .ci/run installs Debian's chromium");
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var (cp, caller) = await ConfigHistoryTests.StartReviewsAsync(mesh);
            await ApplyAsync(mesh, cp, ConfigHistoryTests.Subsets + ConfigHistoryTests.Route("v1"));
            var toV1 = await mesh.ConfigVersionAsync();

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await LaunchAsync(playwright);
            var page = await (await NewContextAsync(browser)).NewPageAsync();
            // The page's event stream is held until a change is made after the page read the history:
            // the stream's first snapshot is then the only news of it (no config event comes).
            var streamHeld = new TaskCompletionSource();
            await page.RouteAsync("**/v1/events", async route =>
            {
                await streamHeld.Task;
                await route.ContinueAsync();
            });
            await page.GotoAsync(new Uri(cp.Admin, "/ui").ToString());
            await page.FillAsync("input[name=token]", mesh.AdminToken);
            await page.ClickAsync("#sign-in button[type=submit]");
            await Assertions.Expect(page.Locator("#app")).ToBeVisibleAsync();
            var newest = page.Locator("#history tbody tr").First;
            await Assertions.Expect(newest).ToContainTextAsync($"{toV1} (running)");
            var navigations = 0;
            page.FrameNavigated += (_, frame) => navigations += frame == page.MainFrame ? 1 : 0;

            // A change applied while the page is open shows in History, newest first, with its diff.
            await ApplyAsync(mesh, cp, ConfigHistoryTests.Route("v2"));
            var toV2 = await mesh.ConfigVersionAsync();
            streamHeld.SetResult();
            await ConfigHistoryTests.CallsGoToAsync(mesh, caller, "reviews-v2");
            await Assertions.Expect(newest).ToContainTextAsync($"{toV2} (running)");
            await Assertions.Expect(newest).ToContainTextAsync("apply");
            await Assertions.Expect(newest).ToContainTextAsync("admin-token");
            await Assertions.Expect(newest).ToContainTextAsync("~VirtualService default/reviews");
            await Assertions.Expect(page.Locator("#history-diff")).ToContainTextAsync($"Version {toV2} against {toV1}");
            await Assertions.Expect(page.Locator("#history-diff .add")).ToHaveTextAsync("+  - route: [{destination: {host: reviews, subset: v2}}]");
            await Assertions.Expect(page.Locator("#history-diff .del")).ToHaveTextAsync("-  - route: [{destination: {host: reviews, subset: v1}}]");
            await page.Locator("#history").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(Shots, "4-history.png") });

            // Rollback asks first; Cancel changes nothing.
            var rollback = page.Locator($"#history tbody tr:has(td[data-version='{toV1}']) button.rollback");
            await rollback.ClickAsync();
            var dialog = page.Locator("#rollback-confirm");
            await Assertions.Expect(dialog).ToBeVisibleAsync();
            await Assertions.Expect(dialog).ToContainTextAsync($"Roll back to version {toV1}?");
            await Assertions.Expect(dialog).ToContainTextAsync("changed: VirtualService default/reviews");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Shots, "5-rollback-confirm.png") });
            await page.ClickAsync("#rollback-no");
            await Assertions.Expect(dialog).Not.ToBeVisibleAsync();
            Assert.Equal(toV2, await mesh.ConfigVersionAsync());

            // Confirmed: a new version serving version toV1's resources; the page follows, and so do calls.
            await rollback.ClickAsync();
            await page.ClickAsync("#rollback-yes");
            await Assertions.Expect(page.Locator("#history-result")).ToContainTextAsync($"Rolled back to version {toV1}: now version {toV2 + 1}.");
            await Assertions.Expect(newest).ToContainTextAsync($"{toV2 + 1} (running)");
            await Assertions.Expect(newest).ToContainTextAsync($"rollback to {toV1}");
            await Assertions.Expect(newest).ToContainTextAsync("admin-token (dashboard)");
            Assert.Equal(toV2 + 1, await mesh.ConfigVersionAsync());
            await ConfigHistoryTests.CallsGoToAsync(mesh, caller, "reviews-v1");
            await page.Locator("#history").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(Shots, "6-rolled-back.png") });

            // A rollback today's config dir makes invalid: the page shows the refusal with the position, and nothing changes.
            mesh.WriteConfig("preview.yaml", ConfigHistoryTests.Route("v2").Replace("name: reviews}", "name: preview}", StringComparison.Ordinal).Replace("hosts: [reviews]", "hosts: [preview]", StringComparison.Ordinal));
            await Assertions.Expect(newest).ToContainTextAsync($"{toV2 + 2} (running)");
            await page.Locator("#history tbody tr:has(td[data-version='1']) button.rollback").ClickAsync();
            await page.ClickAsync("#rollback-yes");
            await Assertions.Expect(page.Locator("#history-result")).ToContainTextAsync("Rollback to version 1 refused (422); the running config is unchanged.");
            await Assertions.Expect(page.Locator("#history-result")).ToContainTextAsync("preview.yaml:7:51: spec.http[0].route[0].destination.subset");
            Assert.Equal(toV2 + 2, await mesh.ConfigVersionAsync());
            await ConfigHistoryTests.CallsGoToAsync(mesh, caller, "reviews-v1");
            Assert.Equal(0, navigations);
            await page.Locator("#history").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(Shots, "7-rollback-refused.png") });
        });
    }

    internal static string Shots
    {
        get
        {
            var shots = Path.Combine(RepoPaths.Root, "tests", "Mesh.EndToEnd.Tests", "TestResults", "dashboard");
            Directory.CreateDirectory(shots);
            return shots;
        }
    }

    /// <summary>
    /// Debian's chromium, headless; with <paramref name="netns"/>, inside that network namespace (a region's admin
    /// port is on its own loopback), through a wrapper that <c>ip netns exec</c>s it (Playwright's pipe is inherited).
    /// </summary>
    internal static async Task<IBrowser> LaunchAsync(IPlaywright playwright, string? netns = null)
    {
        var options = new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] };
        if (netns is null)
        {
            return await playwright.Chromium.LaunchAsync(options);
        }
        var wrapper = Path.Combine(Path.GetTempPath(), $"chromium-in-{netns}.sh");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec ip netns exec {netns} {Chromium} \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        try
        {
            options.ExecutablePath = wrapper;
            return await playwright.Chromium.LaunchAsync(options);
        }
        finally
        {
            File.Delete(wrapper); // exec'd by then: the browser no longer needs it
        }
    }

    /// <summary>Opens the dashboard of the control plane at <paramref name="admin"/> and signs in with the admin token.</summary>
    internal static async Task<IPage> SignedInAsync(IBrowser browser, Uri admin, string adminToken)
    {
        var page = await (await NewContextAsync(browser)).NewPageAsync();
        await page.GotoAsync(new Uri(admin, "/ui").ToString());
        await page.FillAsync("input[name=token]", adminToken);
        await page.ClickAsync("#sign-in button[type=submit]");
        await Assertions.Expect(page.Locator("#app")).ToBeVisibleAsync();
        return page;
    }

    private static Task<IBrowserContext> NewContextAsync(IBrowser browser) =>
        browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });

    private static async Task ApplyAsync(MeshCluster mesh, ControlPlane cp, string yaml)
    {
        using var response = await mesh.Http.PostAsync(new Uri(cp.Admin, "/v1/apply?file=reviews.yaml"), new StringContent(yaml));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Golden signals and the service graph with no Prometheus: callees' sidecars count the calls they
    /// receive, by caller, and send the counts with their heartbeats. 40 good calls and 10 failing ones
    /// from productpage, 10 good ones from ratings: the API and the page show exactly those.
    /// </summary>
    [Fact]
    public async Task Dashboard_GoldenSignalsAndServiceGraph_FromWhatSidecarsReport()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: .ci/run installs Debian's chromium");
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            await mesh.StartServiceAsync("reviews", "reviews-1");
            var productpage = await mesh.StartServiceAsync("productpage", "productpage-1");
            var ratings = await mesh.StartServiceAsync("ratings", "ratings-1");
            // Let every sidecar send its first (empty) report, the zero the control plane counts from.
            await Task.Delay(MeshCluster.HeartbeatInterval * 3);

            for (var i = 0; i < 50; i++)
            {
                // Every fifth call fails with a 500 (not retried by default, and never five in a row for outlier detection).
                var (status, _, _) = await mesh.CallAsync(productpage, "reviews", i % 5 == 4 ? "/status/500" : "/");
                Assert.Equal(i % 5 == 4 ? System.Net.HttpStatusCode.InternalServerError : System.Net.HttpStatusCode.OK, status);
            }
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(System.Net.HttpStatusCode.OK, (await mesh.CallAsync(ratings, "reviews")).Status);
            }

            System.Text.Json.JsonElement view = default;
            await Eventually.TrueAsync(async () =>
            {
                view = System.Text.Json.JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(cp.Admin, "/v1/traffic?window=5m"))).RootElement;
                return view.GetProperty("services").EnumerateArray().Any(s => s.GetProperty("service").GetString() == "reviews.default" && s.GetProperty("requests").GetInt64() >= 60);
            }, TimeSpan.FromSeconds(15), () => $"reviews' calls never reached /v1/traffic: {view}");
            output.WriteLine(view.ToString());
            var reviews = view.GetProperty("services").EnumerateArray().Single(s => s.GetProperty("service").GetString() == "reviews.default");
            Assert.Equal(60, reviews.GetProperty("requests").GetInt64());
            Assert.Equal(10, reviews.GetProperty("errors").GetInt64());
            Assert.Equal(0.8333, reviews.GetProperty("successRate").GetDouble());
            Assert.True(reviews.GetProperty("p99Ms").GetDouble() >= reviews.GetProperty("p50Ms").GetDouble());
            var edges = view.GetProperty("edges").EnumerateArray()
                .Where(e => e.GetProperty("service").GetString() == "reviews.default")
                .ToDictionary(e => e.GetProperty("source").GetString()!, e => (e.GetProperty("requests").GetInt64(), e.GetProperty("errors").GetInt64()));
            Assert.Equal((50L, 10L), edges["productpage.default"]);
            Assert.Equal((10L, 0L), edges["ratings.default"]);

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await LaunchAsync(playwright);
            var page = await (await NewContextAsync(browser)).NewPageAsync();
            await page.GotoAsync(new Uri(cp.Admin, "/ui").ToString());
            await page.FillAsync("input[name=token]", mesh.AdminToken);
            await page.ClickAsync("#sign-in button[type=submit]");
            // The page's window is 30 s: these calls are in it.
            var row = page.Locator("#signals tbody tr[data-service='reviews.default']");
            await Assertions.Expect(row).ToContainTextAsync("83.33%");
            await Assertions.Expect(row).ToContainTextAsync("60");
            await Assertions.Expect(page.Locator("#graph [data-node='productpage.default']")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#graph [data-node='ratings.default']")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#graph [data-edge='productpage.default>reviews.default']")).ToContainTextAsync("80.00%");
            await Assertions.Expect(page.Locator("#graph [data-edge='ratings.default>reviews.default']")).ToContainTextAsync("100%");
            await page.Locator("#signals").ScrollIntoViewIfNeededAsync();
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Shots, "8-golden-signals-and-graph.png"), FullPage = true });
        });
    }
}
