using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// Mass-expiry protection against a real control plane: twelve of thirteen instances whose heartbeats stop
/// together (a partition, or a control plane answering them late) are all held, not expired, and their late
/// heartbeats renew them; one instance that stops alone expires as usual.
/// </summary>
public sealed class MassExpiryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task LeasesLapsingTogether_AreHeld_AndLateHeartbeatsRenewThem_WhileALoneLapseExpires()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            var token = await mesh.CreateJoinTokenAsync("reviews");
            using var anonymous = TestCertificates.Client(null, HttpVersion.Version20);
            var (issued, _, certificate) = await TestCertificates.RequestAsync(anonymous, cp, TestCertificates.Spiffe("reviews"), token);
            Assert.Equal(HttpStatusCode.OK, issued);
            using var reviews = TestCertificates.Client(certificate, HttpVersion.Version20);

            var ids = Enumerable.Range(0, 13).Select(i => $"reviews-{i}").ToArray();
            foreach (var id in ids)
            {
                using var response = await reviews.PostAsJsonAsync(new Uri(cp.SidecarApi, "/v1/register"),
                    new { instanceId = id, service = "reviews", @namespace = "default", address = "127.0.0.1", port = 9, labels = new Dictionary<string, string>(), health = "Healthy" });
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            async Task<HttpStatusCode> HeartbeatAsync(string id)
            {
                using var response = await reviews.PutAsJsonAsync(new Uri(cp.SidecarApi, $"/v1/instances/{id}/heartbeat"), new { health = "Healthy" });
                return response.StatusCode;
            }
            async Task<string[]> RegisteredAsync()
            {
                using var document = JsonDocument.Parse(await mesh.Http.GetStringAsync(new Uri(cp.Admin, "/v1/instances")));
                return [.. document.RootElement.EnumerateArray().Select(i => i.GetProperty("instanceId").GetString()!)];
            }

            // reviews-12 alone stops first and expires like any dead instance (1 of 13 is no mass expiry).
            var alive = ids[..12];
            var loneDeadline = DateTime.UtcNow + MeshCluster.LeaseTtl + TimeSpan.FromSeconds(3);
            while (DateTime.UtcNow < loneDeadline && (await RegisteredAsync()).Contains("reviews-12"))
            {
                // Together, so the twelve leases lapse within a sweep or two when these stop.
                Assert.All(await Task.WhenAll(alive.Select(HeartbeatAsync)), status => Assert.Equal(HttpStatusCode.OK, status));
                await Task.Delay(MeshCluster.HeartbeatInterval);
            }
            Assert.DoesNotContain("reviews-12", await RegisteredAsync());
            Assert.True(cp.Process.HasLogged("Lease of reviews-12"), "the lone lapse expired");

            // The twelve stop together for two lease lifetimes. Two heartbeat intervals after their last one all
            // twelve are late, over the minimum of ten and a quarter of the thirteen, so when the first lapses the
            // registry holds every one: none expires (counting lapses alone let up to nine expire first).
            await Task.Delay(MeshCluster.LeaseTtl * 2);
            var registered = await RegisteredAsync();
            var held = alive.Where(registered.Contains).ToArray();
            var expired = alive.Except(registered).ToArray();
            output.WriteLine($"held {held.Length}, expired before the hold {expired.Length}");
            Assert.Empty(expired);
            Assert.All(expired, id => Assert.True(cp.Process.HasLogged($"Lease of {id} "), $"{id} left the registry by expiring"));
            await Eventually.TrueAsync(() => Task.FromResult(cp.Process.HasLogged("Mass-expiry protection: ")), TimeSpan.FromSeconds(5), () => cp.Process.Output);
            var metrics = await mesh.Http.GetStringAsync(new Uri(cp.Admin, "/metrics"));
            Assert.Matches($@"(?m)^mesh_cp_leases_held(\{{[^}}]*\}})? {held.Length}( |$)", metrics);

            // The held ones' late heartbeats renew them (200, no re-registration); the expired ones must register again (404).
            Assert.All(await Task.WhenAll(held.Select(HeartbeatAsync)), status => Assert.Equal(HttpStatusCode.OK, status));
            Assert.All(await Task.WhenAll(expired.Select(HeartbeatAsync)), status => Assert.Equal(HttpStatusCode.NotFound, status));
            await Eventually.TrueAsync(() => Task.FromResult(cp.Process.HasLogged("Mass-expiry protection over after")), TimeSpan.FromSeconds(5), () => cp.Process.Output);
            Assert.True(cp.Process.HasLogged("0 lease(s) expired now, the rest were renewed"), cp.Process.Output);
            Assert.Equal(held.Order(StringComparer.Ordinal), (await RegisteredAsync()).Order(StringComparer.Ordinal));
            Assert.False(held.Any(id => cp.Process.HasLogged($"Lease of {id} ")), "no held lease expired");
            output.WriteLine(string.Join('\n', cp.Process.Output.Split('\n').Where(l => l.Contains("expir", StringComparison.OrdinalIgnoreCase))));
        });
    }
}
