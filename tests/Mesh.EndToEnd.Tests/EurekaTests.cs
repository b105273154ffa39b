using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The sidecar's Eureka API, used by the stock npm client eureka-js-client 4.5.0 (a client nobody here
/// wrote) in Node processes: two real HTTP apps without a sidecar register through two sidecars, find
/// each other and the sidecar-registered service, go OUT_OF_SERVICE and DOWN, are called through the mesh,
/// deregister on stop and are evicted when their heartbeats stop.
/// </summary>
public sealed class EurekaTests(ITestOutputHelper output)
{
    private const string App = "ORDERS";

    [Fact]
    public async Task EurekaJsClient_RegistersDiscoversFollowsStatusCancelsAndExpires_AndTheMeshRoutesToIt()
    {
        await using var mesh = new MeshCluster();
        var clients = new List<EurekaJsClient>();
        try
        {
            await mesh.RunAsync(async () =>
            {
                try
                {
                    await ScenarioAsync(mesh, clients);
                }
                catch (Exception e)
                {
                    throw new InvalidOperationException($"{e.Message}\n{string.Join("\n", clients.Select(c => $"== {c.Name} ==\n{c.Output}"))}", e);
                }
            });
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    private async Task ScenarioAsync(MeshCluster mesh, List<EurekaJsClient> clients)
    {
        await mesh.StartControlPlaneAsync();
        var (eurekaA, eurekaB) = (FreePorts.Next(), FreePorts.Next());
        var shop = await mesh.StartServiceAsync("shop", "shop-1", "--eureka-port", eurekaA.ToString());
        var caller = await mesh.StartServiceAsync("caller", "caller-1", "--eureka-port", eurekaB.ToString());
        Assert.True(shop.Process.HasLogged($"Eureka API on http://127.0.0.1:{eurekaA}/eureka/"), shop.Process.Output);

        // Two real HTTP apps with no sidecar; each one's Eureka client registers with the sidecar next to it.
        var (port1, port2) = (FreePorts.Next(), FreePorts.Next());
        mesh.StartApp("orders-1", port1);
        mesh.StartApp("orders-2", port2);
        var one = await LaunchAsync(clients, "orders-1", port1, eurekaA);
        var two = await LaunchAsync(clients, "orders-2", port2, eurekaB);
        Assert.Null(await one.StartAsync());
        Assert.Null(await two.StartAsync());

        // Register and discover: each sees both ORDERS instances UP, its own under its own id and the
        // other's under its mesh id (<id>@<sidecar>), and the sidecar-registered shop as any Eureka app.
        await one.AwaitCountAsync(App, 2, TimeSpan.FromSeconds(10));
        await two.AwaitCountAsync(App, 2, TimeSpan.FromSeconds(10));
        Assert.Equal(["orders-1", "orders-2@caller-1"], (await one.InstancesAsync(App)).Select(i => i.GetProperty("instanceId").GetString()).Order(StringComparer.Ordinal));
        var local = (await one.InstancesAsync(App)).Single(i => i.GetProperty("instanceId").GetString() == "orders-1");
        Assert.Equal(port1, local.GetProperty("port").GetInt32());
        Assert.Equal("z1", local.GetProperty("metadata").GetProperty("zone").GetString());
        var shopSeen = Assert.Single(await two.InstancesAsync("SHOP"));
        Assert.Equal("UP", shopSeen.GetProperty("status").GetString());
        Assert.Equal(shop.InboundPort, shopSeen.GetProperty("port").GetInt32());
        Assert.Equal("sidecar", shopSeen.GetProperty("metadata").GetProperty("mesh.source").GetString());

        // Another sidecar's app calls the service by name through its outbound port: both Eureka-registered apps answer.
        await Eventually.ValueAsync(() => AnswerersAsync(mesh, caller, "orders"), a => a.SetEquals(["orders-1", "orders-2"]), TimeSpan.FromSeconds(10), () => "both orders instances answer through the mesh");
        await Eventually.ValueAsync(() => AnswerersAsync(mesh, shop, "orders"), a => a.SetEquals(["orders-1", "orders-2"]), TimeSpan.FromSeconds(10), () => "both answer shop's calls too");

        // Status: OUT_OF_SERVICE and DOWN hide orders-1 from both clients' fetches and from the mesh's routing;
        // clearing the override brings it back. Each change is timed until a client's fetch shows it.
        var localTimes = new List<long>();
        var remoteTimes = new List<long>();
        var putTimes = new List<long>();
        for (var round = 0; round < 10; round++)
        {
            var status = round % 2 == 0 ? "OUT_OF_SERVICE" : "DOWN";
            await TimeChangeAsync(one, two, () => one.SetStatusAsync(status), 1, localTimes, remoteTimes, putTimes);
            if (round < 2)
            {
                var raw = await GetJsonAsync(mesh, eurekaA, $"/eureka/apps/{App}/orders-1");
                Assert.Equal(status, raw.GetProperty("instance").GetProperty("status").GetString());
                Assert.Equal(status, raw.GetProperty("instance").GetProperty("overriddenStatus").GetString());
                await Eventually.ValueAsync(() => AnswerersAsync(mesh, caller, "orders"), a => a.SetEquals(["orders-2"]), TimeSpan.FromSeconds(5), () => $"{status} orders-1 takes no mesh calls");
                var other = await GetJsonAsync(mesh, eurekaB, $"/eureka/apps/{App}");
                Assert.Contains(other.GetProperty("application").GetProperty("instance").EnumerateArray(),
                    i => i.GetProperty("instanceId").GetString() == "orders-1@shop-1" && i.GetProperty("status").GetString() == "DOWN");
            }
            await TimeChangeAsync(one, two, () => one.SetStatusAsync(null), 2, localTimes, remoteTimes, putTimes);
        }
        output.WriteLine($"status change -> fetch by a client of the same sidecar: {Percentiles(localTimes)}");
        output.WriteLine($"status change -> fetch by a client of another sidecar: {Percentiles(remoteTimes)}");
        output.WriteLine($"of which the PUT .../status call itself: {Percentiles(putTimes)}");
        Assert.True(remoteTimes.Max() < 3000, $"a fetch saw a change only after {remoteTimes.Max()} ms");
        await Eventually.ValueAsync(() => AnswerersAsync(mesh, caller, "orders"), a => a.SetEquals(["orders-1", "orders-2"]), TimeSpan.FromSeconds(10), () => "orders-1 back in the mesh");

        await ProtocolAnswersAsync(mesh, eurekaA);

        // Cancel: stop() deregisters orders-2; the other client's next fetch and the mesh lose it.
        Assert.Null(await two.StopAsync());
        await one.AwaitCountAsync(App, 1, TimeSpan.FromSeconds(5));
        Assert.True(caller.Process.HasLogged("Eureka cancelled ORDERS/orders-2"), caller.Process.Output);
        await Eventually.ValueAsync(() => InstanceIdsAsync(mesh), ids => !ids.Contains("orders-2@caller-1"), TimeSpan.FromSeconds(5), () => "orders-2 leaves the registry");
        await Eventually.ValueAsync(() => AnswerersAsync(mesh, caller, "orders"), a => a.SetEquals(["orders-1"]), TimeSpan.FromSeconds(5), () => "only orders-1 takes calls");

        // Lease expiry: orders-1's client stops renewing (as if hung); after durationInSecs (3 s) the sidecar evicts it.
        await one.StopHeartbeatsAsync();
        var stopped = DateTime.UtcNow;
        await one.AwaitCountAsync(App, 0, TimeSpan.FromSeconds(10));
        output.WriteLine($"heartbeats stopped -> evicted and gone from the fetch: {(DateTime.UtcNow - stopped).TotalMilliseconds:F0} ms (durationInSecs 3)");
        // Its last renewal was at most one heartbeat interval (1 s) before the stop: the lease ran at least 2 s more.
        Assert.True(DateTime.UtcNow - stopped > TimeSpan.FromSeconds(1.9), "evicted before its lease lapsed");
        Assert.True(shop.Process.HasLogged("Eureka evicted ORDERS/orders-1"), shop.Process.Output);
        await Eventually.ValueAsync(() => InstanceIdsAsync(mesh), ids => !ids.Contains("orders-1@shop-1"), TimeSpan.FromSeconds(5), () => "orders-1 leaves the registry");

        // A sidecar whose join token was scoped to its own service may not register others: the client hears why.
        var scopedToken = Path.Combine(mesh.Root, "lonely.token");
        File.WriteAllText(scopedToken, await mesh.CreateJoinTokenAsync("lonely"));
        var eurekaC = FreePorts.Next();
        mesh.UseJoinToken = false;
        var lonely = mesh.StartSidecar("lonely", "lonely-1", port1, "--join-token-file", scopedToken, "--eureka-port", eurekaC.ToString());
        mesh.UseJoinToken = true;
        await mesh.WaitReadyAsync(lonely);
        using (var refused = await mesh.Http.PostAsync($"http://127.0.0.1:{eurekaC}/eureka/apps/{App}",
            new StringContent(new JsonObject { ["instance"] = new JsonObject { ["instanceId"] = "orders-3", ["app"] = App, ["hostName"] = "127.0.0.1", ["port"] = port1 } }.ToJsonString(),
                System.Text.Encoding.UTF8, "application/json")))
        {
            var reason = await refused.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("the control plane refused ORDERS/orders-3", reason, StringComparison.Ordinal);
            Assert.Contains("scoped to that service", reason, StringComparison.Ordinal);
        }

        // A second sidecar on a taken Eureka port stops at once with one line saying why, not a stack trace.
        var second = mesh.StartSidecar("shop", "shop-2", FreePorts.Next(), "--eureka-port", eurekaA.ToString());
        Assert.Equal(1, await second.Process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(second.Process.HasLogged($"mesh-sidecar: --eureka-port 127.0.0.1:{eurekaA} cannot be bound"), second.Process.Output);
        Assert.False(second.Process.HasLogged("   at "), "a stack trace: " + second.Process.Output);
    }

    /// <summary>What a Eureka server answers that eureka-js-client does not ask: errors name the field, XML and unknown calls are refused.</summary>
    private static async Task ProtocolAnswersAsync(MeshCluster mesh, int port)
    {
        var all = await GetJsonAsync(mesh, port, "/eureka/apps");
        Assert.Matches("^(UP_[0-9]+_)$", all.GetProperty("applications").GetProperty("apps__hashcode").GetString());
        Assert.True(all.GetProperty("applications").TryGetProperty("versions__delta", out _));
        var delta = await GetJsonAsync(mesh, port, "/eureka/apps/delta");
        Assert.Contains(delta.GetProperty("applications").GetProperty("application").EnumerateArray(), a => a.GetProperty("name").GetString() == App);
        var vip = await GetJsonAsync(mesh, port, "/eureka/vips/orders");
        Assert.Equal(2, vip.GetProperty("applications").GetProperty("application")[0].GetProperty("instance").GetArrayLength());

        using var xml = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/eureka/apps");
        xml.Headers.Accept.ParseAdd("application/xml");
        using var xmlAnswer = await mesh.Http.SendAsync(xml);
        Assert.Equal(HttpStatusCode.NotAcceptable, xmlAnswer.StatusCode);
        Assert.Contains("JSON only", await xmlAnswer.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var bad = await mesh.Http.PostAsync($"http://127.0.0.1:{port}/eureka/apps/MY_APP",
            new StringContent("""{"instance": {"app": "MY_APP", "hostName": "127.0.0.1", "port": {"$": 0}}}""", System.Text.Encoding.UTF8, "application/json"));
        var badBody = await bad.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("instance.app: 'MY_APP'", badBody, StringComparison.Ordinal);
        Assert.Contains("instance.port:", badBody, StringComparison.Ordinal);

        using var unknown = await mesh.Http.PutAsync($"http://127.0.0.1:{port}/eureka/apps/{App}/nobody", null);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("orders-2@caller-1", (await GetJsonAsync(mesh, port, "/eureka/instances/orders-2@caller-1")).GetProperty("instance").GetProperty("instanceId").GetString());
        using var notImplemented = await mesh.Http.GetAsync($"http://127.0.0.1:{port}/eureka/svips/orders");
        Assert.Equal(HttpStatusCode.NotImplemented, notImplemented.StatusCode);
    }

    private static async Task TimeChangeAsync(EurekaJsClient local, EurekaJsClient remote, Func<Task<int>> change, int count, List<long> localTimes, List<long> remoteTimes, List<long> putTimes)
    {
        // Each change would otherwise start right after a fetch of the client that saw the last one, always
        // at the same point of its 100 ms fetch cycle: a random start measures the spread, not one phase.
        await Task.Delay(Random.Shared.Next(0, 100));
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(200, await change());
        putTimes.Add(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - before);
        var seenLocal = local.AwaitCountAsync(App, count, TimeSpan.FromSeconds(10));
        var seenRemote = remote.AwaitCountAsync(App, count, TimeSpan.FromSeconds(10));
        localTimes.Add(await seenLocal - before);
        remoteTimes.Add(await seenRemote - before);
    }

    private static string Percentiles(List<long> times)
    {
        var sorted = times.Order().ToArray();
        long At(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        return $"p50 {At(0.5)} ms, p99 {At(0.99)} ms, max {sorted[^1]} ms over {sorted.Length} changes";
    }

    private static async Task<EurekaJsClient> LaunchAsync(List<EurekaJsClient> clients, string name, int appPort, int eurekaPort)
    {
        var client = await EurekaJsClient.LaunchAsync($"eureka-js-client {name}", new JsonObject
        {
            ["instance"] = new JsonObject
            {
                ["app"] = App,
                ["instanceId"] = name,
                ["hostName"] = "127.0.0.1",
                ["ipAddr"] = "127.0.0.1",
                ["port"] = new JsonObject { ["$"] = appPort, ["@enabled"] = true },
                ["vipAddress"] = "orders",
                ["statusPageUrl"] = $"http://127.0.0.1:{appPort}/health",
                ["dataCenterInfo"] = new JsonObject { ["@class"] = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", ["name"] = "MyOwn" },
                ["leaseInfo"] = new JsonObject { ["renewalIntervalInSecs"] = 1, ["durationInSecs"] = 3 },
                ["metadata"] = new JsonObject { ["zone"] = "z1", ["version"] = "v1" },
            },
            ["eureka"] = new JsonObject
            {
                ["host"] = "127.0.0.1",
                ["port"] = eurekaPort,
                // The only change a Eureka user makes: the server URL is the sidecar's.
                ["servicePath"] = "/eureka/apps/",
                ["heartbeatInterval"] = 1000,
                ["registryFetchInterval"] = 100,
                ["maxRetries"] = 0,
            },
        });
        clients.Add(client);
        return client;
    }

    private static async Task<HashSet<string>> AnswerersAsync(MeshCluster mesh, Sidecar from, string host)
    {
        var answered = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 20; i++)
        {
            var (status, body, response) = await mesh.CallAsync(from, host);
            using (response)
            {
                answered.Add(status == HttpStatusCode.OK && response.Headers.TryGetValues("x-app", out var app) ? app.Single() : $"{(int)status} {body}");
            }
        }
        return answered;
    }

    private static async Task<JsonElement> GetJsonAsync(MeshCluster mesh, int port, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}{path}");
        request.Headers.Accept.ParseAdd("application/json");
        using var response = await mesh.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    private static async Task<string[]> InstanceIdsAsync(MeshCluster mesh)
    {
        using var doc = JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(mesh.ControlPlane!.Admin, "/v1/instances")));
        return [.. doc.RootElement.EnumerateArray().Select(i => i.GetProperty("instanceId").GetString()!)];
    }
}
