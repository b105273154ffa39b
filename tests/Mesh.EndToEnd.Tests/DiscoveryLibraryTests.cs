using System.Net;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Client-side discovery for .NET (Mesh.Discovery under Microsoft.Extensions.ServiceDiscovery): the
/// example app's own HttpClient and its own YARP gateway call "web" straight at its instances, found in
/// the mesh registry through an agent-only sidecar; an instance killed leaves the set with no failed call,
/// and the agent gone keeps the last answer.
/// </summary>
public sealed class DiscoveryLibraryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task HttpClientAndYarp_ReachRegisteredInstances_ALostInstanceFailsNoCall_AndTheLastAnswerOutlivesTheAgent()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            var agentPort = FreePorts.Next();
            var agent = mesh.StartSidecar("discovery-agent", "agent-1", 0, "--consul-port", agentPort.ToString());
            await mesh.WaitReadyAsync(agent);
            var ports = new[] { FreePorts.Next(), FreePorts.Next() };
            var apps = new[] { mesh.StartApp("web-1", ports[0]), mesh.StartApp("web-2", ports[1]) };
            for (var i = 0; i < 2; i++)
            {
                var definition = new { Name = "web", ID = $"web-{i + 1}", Address = "127.0.0.1", Port = ports[i], Meta = new { version = "v1" },
                    Check = new { HTTP = $"http://127.0.0.1:{ports[i]}/health", Interval = "250ms" } };
                using var response = await mesh.Http.PutAsync(new Uri($"http://127.0.0.1:{agentPort}/v1/agent/service/register"), JsonContent(definition));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            var appPort = FreePorts.Next();
            await using var example = MeshProcess.StartDll("discovery example", RepoPaths.DiscoveryExampleDll,
                ["--port", appPort.ToString(), "--agent", $"http://127.0.0.1:{agentPort}", "--service", "web"]);
            var app = new Uri($"http://127.0.0.1:{appPort}");
            await Eventually.ValueAsync(() => InstancesAsync(app), ids => ids.Length == 2, TimeSpan.FromSeconds(30), () => "both web instances discovered\n" + example.Output);

            // The HttpClient and the YARP route both reach both instances, directly (no sidecar hop).
            Assert.Equal(["web-1", "web-2"], await AnsweredByAsync(mesh, new Uri(app, "/call"), 20));
            Assert.Equal(["web-1", "web-2"], await AnsweredByAsync(mesh, new Uri(app, "/proxy/hello"), 20));
            Assert.Matches("^web-[12] GET /hello$", await mesh.Http.GetStringAsync(new Uri(app, "/proxy/hello")));

            // web-2 dies: every call still succeeds (a retry resolves again and goes to the other), and it
            // leaves the set once its check fails.
            apps[1].Kill();
            var failed = 0;
            for (var i = 0; i < 40; i++)
            {
                using var response = await mesh.Http.GetAsync(new Uri(app, "/call"));
                failed += response.IsSuccessStatusCode ? 0 : 1;
                await Task.Delay(25);
            }
            Assert.Equal(0, failed);
            await Eventually.ValueAsync(() => InstancesAsync(app), ids => ids.SequenceEqual(["web-1"]), TimeSpan.FromSeconds(10), () => "web-2 out of the discovered set");

            // The agent (the registry's door) goes away: the last answer is kept and calls go on.
            agent.Process.Kill();
            await Eventually.ValueAsync(async () => (await mesh.Http.GetStringAsync(new Uri(app, "/instances"))), body => body.Contains("\"error\":\"", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60), () => "the example noticed the agent is gone");
            Assert.Equal(["web-1"], await InstancesAsync(app));
            Assert.Equal(["web-1"], await AnsweredByAsync(mesh, new Uri(app, "/call"), 10));
            output.WriteLine(await mesh.Http.GetStringAsync(new Uri(app, "/instances")));
        });
    }

    private static StringContent JsonContent(object value) => new(JsonSerializer.Serialize(value), System.Text.Encoding.UTF8, "application/json");

    private static async Task<string[]> InstancesAsync(Uri app)
    {
        using var http = new HttpClient();
        try
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri(app, "/instances")));
            return doc.RootElement.GetProperty("instances") is { ValueKind: JsonValueKind.Array } list
                ? list.EnumerateArray().Select(i => i.GetString()!.Split(' ')[0]).Order(StringComparer.Ordinal).ToArray()
                : [];
        }
        catch (HttpRequestException)
        {
            return []; // not up yet
        }
    }

    private static async Task<string[]> AnsweredByAsync(MeshCluster mesh, Uri uri, int calls)
    {
        var seen = new SortedSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < calls; i++)
        {
            using var response = await mesh.Http.GetAsync(uri);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{uri}: {(int)response.StatusCode} {body}");
            seen.Add(body.Split(' ')[0]);
        }
        return [.. seen];
    }
}
