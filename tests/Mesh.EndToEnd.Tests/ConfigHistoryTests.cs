using System.Diagnostics;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Config history, diff and rollback with real processes: a change applied with meshctl shows in the
/// history (API and <c>meshctl history</c>) with how and who, <c>meshctl diff</c> shows it, a rollback
/// (confirmed at meshctl's prompt) restores the routing and calls through the sidecars follow, a rollback
/// that today's config dir makes invalid is refused with positions and changes nothing, and the history
/// survives a control-plane restart.
/// </summary>
public sealed class ConfigHistoryTests
{
    internal const string Subsets = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
        ---

        """;

    internal static string Route(string subset) => $$$"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - route: [{destination: {host: reviews, subset: {{{subset}}}}}]

        """;

    [Fact]
    public async Task ApplyThenRollback_ShowsInHistoryAndDiff_CallsFollow_InvalidRollbackRefused_HistorySurvivesRestart()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var (cp, caller) = await ConfigHistoryTests.StartReviewsAsync(mesh);
            string[] Admin(params string[] args) => ["--admin", cp.Admin.ToString(), "--token-file", Path.Combine(cp.DataDir, "admin-token"), .. args];
            var files = Path.Combine(mesh.Root, "yaml");
            Directory.CreateDirectory(files);
            File.WriteAllText(Path.Combine(files, "v1.yaml"), Subsets + Route("v1"));
            File.WriteAllText(Path.Combine(files, "v2.yaml"), Route("v2"));
            var empty = await mesh.ConfigVersionAsync();

            var (code, output) = await MeshctlTests.MeshctlAsync(Admin("apply", "-f", Path.Combine(files, "v1.yaml")));
            Assert.Equal(0, code);
            var toV1 = await mesh.ConfigVersionAsync();
            await CallsGoToAsync(mesh, caller, "reviews-v1");
            (code, output) = await MeshctlTests.MeshctlAsync(Admin("apply", "-f", Path.Combine(files, "v2.yaml")));
            Assert.Equal(0, code);
            var toV2 = await mesh.ConfigVersionAsync();
            Assert.Equal(toV1 + 1, toV2);
            await CallsGoToAsync(mesh, caller, "reviews-v2");

            // In the history: newest first, how, who, what changed.
            var history = await JsonAsync(mesh, cp, "/v1/config/history");
            var newest = history.GetProperty("versions")[0];
            Assert.Equal(toV2, newest.GetProperty("version").GetInt64());
            Assert.Equal(("apply", "admin-token"), (newest.GetProperty("how").GetString(), newest.GetProperty("who").GetString()));
            Assert.Equal("VirtualService default/reviews", Assert.Single(newest.GetProperty("changes").GetProperty("changed").EnumerateArray()).GetString());
            Assert.DoesNotContain(mesh.AdminToken, history.ToString(), StringComparison.Ordinal);
            (code, output) = await MeshctlTests.MeshctlAsync(Admin("history"));
            Assert.Equal(0, code);
            Assert.Matches($@"\*{toV2}\s+\S+ \S+\s+apply\s+admin-token\s+~VirtualService default/reviews", output);
            Assert.Matches($@"\n\s+{toV1}\s+\S+ \S+\s+apply\s+admin-token\s+\+DestinationRule default/reviews, \+VirtualService default/reviews", output);

            // meshctl diff: the route's one line, as a unified diff.
            (code, output) = await MeshctlTests.MeshctlAsync(Admin("diff", toV1.ToString(), toV2.ToString()));
            Assert.Equal(0, code);
            Assert.Contains("changed: VirtualService default/reviews", output, StringComparison.Ordinal);
            Assert.Contains("-  - route: [{destination: {host: reviews, subset: v1}}]\n+  - route: [{destination: {host: reviews, subset: v2}}]", output, StringComparison.Ordinal);
            Assert.DoesNotContain("DestinationRule", output, StringComparison.Ordinal);

            // Rollback without confirmation does nothing; confirmed, it makes a new version and calls follow.
            (code, output) = await MeshctlWithInputAsync(Admin("rollback", toV1.ToString()), "n\n");
            Assert.Equal(1, code);
            Assert.Contains("changed: VirtualService default/reviews", output, StringComparison.Ordinal);
            Assert.Equal(toV2, await mesh.ConfigVersionAsync());
            (code, output) = await MeshctlWithInputAsync(Admin("rollback", toV1.ToString()), "y\n");
            Assert.Equal(0, code);
            var rolledBack = toV2 + 1;
            Assert.Contains($"rolled back to the resources of version {toV1}: config version {rolledBack}", output, StringComparison.Ordinal);
            await CallsGoToAsync(mesh, caller, "reviews-v1");
            var entry = (await JsonAsync(mesh, cp, $"/v1/config/history/{rolledBack}"));
            Assert.Equal(("rollback", toV1), (entry.GetProperty("how").GetString(), entry.GetProperty("rolledBackTo").GetInt64()));

            // A file in the config dir now needs the DestinationRule: rolling back to before it existed is refused, with the position.
            mesh.WriteConfig("preview.yaml", Route("v2").Replace("name: reviews}", "name: preview}", StringComparison.Ordinal).Replace("hosts: [reviews]", "hosts: [preview]", StringComparison.Ordinal));
            await Eventually.TrueAsync(async () => await mesh.ConfigVersionAsync() == rolledBack + 1, TimeSpan.FromSeconds(20), () => "the config dir edit was not accepted");
            var edited = (await JsonAsync(mesh, cp, "/v1/config/history")).GetProperty("versions")[0];
            Assert.Equal(("file", "config-dir"), (edited.GetProperty("how").GetString(), edited.GetProperty("who").GetString()));
            (code, output) = await MeshctlTests.MeshctlAsync(Admin("rollback", empty.ToString(), "--yes"));
            Assert.Equal(1, code);
            Assert.Contains("preview.yaml:7:51: spec.http[0].route[0].destination.subset: subset 'v2' of host 'reviews' is not defined by any DestinationRule", output, StringComparison.Ordinal);
            Assert.Contains("the running config is unchanged", output, StringComparison.Ordinal);
            Assert.Equal(rolledBack + 1, await mesh.ConfigVersionAsync());
            await CallsGoToAsync(mesh, caller, "reviews-v1");

            // After a restart: the same history, and diff and rollback still work on it.
            var before = (await JsonAsync(mesh, cp, "/v1/config/history")).GetProperty("versions").ToString();
            cp = await mesh.RestartControlPlaneAsync();
            Assert.Equal(before, (await JsonAsync(mesh, cp, "/v1/config/history")).GetProperty("versions").ToString());
            (code, output) = await MeshctlTests.MeshctlAsync(Admin("diff", toV1.ToString(), toV2.ToString(), "-o", "json"));
            Assert.Equal(0, code);
            Assert.Equal("changed", JsonDocument.Parse(output).RootElement.GetProperty("resources")[0].GetProperty("change").GetString());
            (code, output) = await MeshctlTests.MeshctlAsync(Admin("diff", toV1.ToString(), toV2.ToString(), "-o", "yaml"));
            Assert.Equal(0, code);
            Assert.Contains("  diff: |\n    --- v", output, StringComparison.Ordinal);
            Assert.Contains("\n    -  - route: [{destination: {host: reviews, subset: v1}}]\n    +  - route: [{destination: {host: reviews, subset: v2}}]", output, StringComparison.Ordinal);
            (code, output) = await MeshctlTests.MeshctlAsync(Admin("rollback", toV2.ToString(), "-y"));
            Assert.Equal(0, code);
            await CallsGoToAsync(mesh, caller, "reviews-v2");

            // Bad requests say what is wrong; without the admin token there is no history.
            await AssertRefusedAsync(mesh, new(HttpMethod.Get, new Uri(cp.Admin, "/v1/config/history/latest")), 400, "version: expected a config version number, got 'latest'");
            await AssertRefusedAsync(mesh, new(HttpMethod.Get, new Uri(cp.Admin, "/v1/config/history/9999")), 404, $"config version 9999 is not in the history (kept: 1-{rolledBack + 2}");
            await AssertRefusedAsync(mesh, new(HttpMethod.Get, new Uri(cp.Admin, "/v1/config/diff?to=x")), 400, "from: required, a config version number", "to: expected a config version number, got 'x'");
            await AssertRefusedAsync(mesh, new(HttpMethod.Post, new Uri(cp.Admin, "/v1/config/rollback")) { Content = new StringContent("{\"version\": \"3\"}") }, 400, "naming a kept config version");
            using var anonymous = new HttpClient();
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.GetAsync(new Uri(cp.Admin, "/v1/config/history"))).StatusCode);
        });
    }

    /// <summary>A control plane, reviews v1 and v2 (labelled version=v1, version=v2), and productpage to call them from.</summary>
    internal static async Task<(ControlPlane Cp, Sidecar Caller)> StartReviewsAsync(MeshCluster mesh)
    {
        var cp = await mesh.StartControlPlaneAsync();
        await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
        await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
        return (cp, await mesh.StartServiceAsync("productpage", "productpage-1"));
    }

    /// <summary>Waits until ten calls in a row through <paramref name="caller"/>'s sidecar reach <paramref name="instance"/>.</summary>
    internal static Task CallsGoToAsync(MeshCluster mesh, Sidecar caller, string instance) =>
        Eventually.ValueAsync(async () =>
        {
            var answers = new List<string>();
            for (var i = 0; i < 10; i++)
            {
                answers.Add((await mesh.CallAsync(caller, "reviews", "/reviews/1")).Body.Split(' ')[0]);
            }
            return answers;
        }, answers => answers.All(a => a == instance), TimeSpan.FromSeconds(20), () => $"calls did not all go to {instance}");

    /// <summary>Asserts the admin API refuses <paramref name="request"/> with <paramref name="status"/>, its errors saying each of <paramref name="expected"/>.</summary>
    private static async Task AssertRefusedAsync(MeshCluster mesh, HttpRequestMessage request, int status, params string[] expected)
    {
        using var sent = request;
        var (method, uri) = (request.Method, request.RequestUri);
        using var response = await mesh.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{method} {uri}: expected {status}, got {(int)response.StatusCode} {text}");
        var errors = JsonDocument.Parse(text).RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToArray();
        foreach (var error in expected)
        {
            Assert.Contains(errors, e => e.Contains(error, StringComparison.Ordinal));
        }
    }

    private static async Task<JsonElement> JsonAsync(MeshCluster mesh, ControlPlane cp, string path) =>
        JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(cp.Admin, path))).RootElement.Clone();

    /// <summary>meshctl with <paramref name="input"/> on its standard input (an operator answering its prompt).</summary>
    private static async Task<(int Code, string Output)> MeshctlWithInputAsync(string[] args, string input)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[RepoPaths.MeshctlDll, .. args])
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var (stdout, stderr) = (process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
