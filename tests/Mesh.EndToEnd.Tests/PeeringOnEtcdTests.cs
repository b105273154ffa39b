using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Peerings on etcd (issue 27): east is 2 replicas on 3 real etcd members, west one control plane of its own
/// (own trust domain and CA), all on loopback. A peering established through one east replica is listed and used
/// by both; one east replica at a time, elected, fetches west's exports, the other takes them from etcd; the
/// importing replica SIGKILLed, the other takes the import over.
/// </summary>
public sealed class PeeringOnEtcdTests(ITestOutputHelper output)
{
    private static readonly string[] East = ["--trust-domain", "east.example", "--region", "east", "--peer-sync-interval", "250ms"];

    [Fact]
    public Task PeeringMadeThroughOneReplica_UsedByEvery_OneReplicaImports_TheOtherTakesOverWhenItIsKilled() =>
        EtcdMesh.RunAsync(2, async (etcd, mesh, replicas) =>
        {
            await using var west = new MeshCluster();
            west.ControlPlaneArgs.AddRange(["--trust-domain", "west.example", "--region", "west", "--peer-sync-interval", "250ms"]);
            try
            {
                await west.StartControlPlaneAsync();
                west.WriteConfig("exports.yaml", RegionsTests.Exports);
                await west.StartServiceAsync("ratings", "ratings-west-1");
                // East's caller may watch either replica: it goes on through the survivor when one is killed.
                mesh.SidecarControlPlanes = string.Join(',', replicas.Select(r => r.SidecarApi));
                var caller = mesh.StartSidecar("productpage", "productpage-east-1", 0);
                await mesh.WaitReadyAsync(caller);

                // Peered through east's second replica only.
                using (var made = await AdminPostAsync(west, west.ControlPlane!, "/v1/peerings/token", new { peer = "east" }))
                {
                    var token = (await made.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
                    using var established = await AdminPostAsync(mesh, replicas[1], "/v1/peerings/establish", new { peer = "west", token });
                    Assert.True(established.IsSuccessStatusCode, await established.Content.ReadAsStringAsync());
                }

                // Both replicas list it, from etcd (neither keeps a peerings.json), and exactly one imports.
                var listed = await Eventually.ValueAsync(() => Task.WhenAll(replicas.Select(r => PeeringAsync(mesh, r))),
                    l => l.All(p => p is { } w && w.GetProperty("state").GetString() == "ACTIVE" && w.GetProperty("importedInstances").GetInt32() == 1 && !w.GetProperty("stale").GetBoolean())
                        && l.Count(p => p!.Value.GetProperty("importingHere").GetBoolean()) == 1,
                    TimeSpan.FromSeconds(30), () => "both east replicas list west's peering with its one instance, one of them importing");
                Assert.All(replicas, r => Assert.False(File.Exists(Path.Combine(r.DataDir, "peerings.json")), $"{r.DataDir} holds no peerings.json"));
                var importer = replicas[Array.FindIndex(listed, p => p!.Value.GetProperty("importingHere").GetBoolean())];
                var other = replicas.Single(r => r != importer);
                output.WriteLine($"importing: replica :{importer.Port}; following: replica :{other.Port}");
                Assert.True(importer.Process.HasLogged("now imports from the peers"), "the elected replica says so");
                Assert.False(other.Process.HasLogged("now imports from the peers"), "the other replica does not import");

                // Used by both: the caller reaches west's ratings over mutual TLS, whichever replica it watches.
                var answer = await Eventually.ValueAsync(() => mesh.CallAsync(caller, "ratings", "/r"), r => r.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30),
                    () => "east's caller reaches west's ratings");
                Assert.Equal("ratings-west-1 GET /r", answer.Body);

                // The importing replica SIGKILLed under load: the other is elected and imports; a new instance in west reaches east's caller through it.
                var load = new RecordedLoad(mesh, caller, "ratings", "/r", workers: 2);
                await load.WaitForAsync(c => c.Ok, 50, TimeSpan.FromSeconds(20), "answered before the importing replica was killed");
                importer.Process.Kill();
                var killed = load.Now;
                await Eventually.TrueAsync(async () => (await PeeringAsync(mesh, other))?.GetProperty("importingHere").GetBoolean() == true, TimeSpan.FromSeconds(20),
                    () => "the surviving replica takes the import over");
                var tookOver = load.Now;
                await west.StartServiceAsync("ratings", "ratings-west-2");
                await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-west-1@west", "ratings-west-2@west"]),
                    TimeSpan.FromSeconds(30), () => "west's second instance reaches east's caller through the surviving replica");
                var calls = await load.StopAsync();
                var failed = calls.Where(c => !c.Ok).ToArray();
                output.WriteLine($"importing replica SIGKILLed: the other imports {(tookOver - killed).TotalMilliseconds:F0} ms later; {calls.Count} calls through it, {failed.Length} failed");
                Assert.True(failed.Length == 0, $"{failed.Length} calls failed: {string.Join("; ", failed.Take(5))}");
            }
            catch
            {
                // East's output goes with the failure; west's is written here.
                output.WriteLine("######## west ########\n" + west.Logs);
                throw;
            }
        }, replicaArgs: East);

    /// <summary>The replica's peering named west, as its admin API lists it (null before there is one).</summary>
    private static async Task<JsonElement?> PeeringAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var doc = JsonDocument.Parse(await EtcdMesh.AdminGetTextAsync(mesh, cp, "/v1/peerings"));
        return doc.RootElement.EnumerateArray().Where(p => p.GetProperty("name").GetString() == "west").Select(p => (JsonElement?)p.Clone()).FirstOrDefault();
    }

    private static async Task<HttpResponseMessage> AdminPostAsync(MeshCluster mesh, ControlPlane cp, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(cp.Admin, path)) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(cp));
        return await mesh.Http.SendAsync(request);
    }
}
