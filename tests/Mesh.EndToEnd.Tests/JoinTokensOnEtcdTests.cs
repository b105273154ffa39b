using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>Join tokens and the admin token on etcd: 3 real etcd members and 3 replicas, real sidecars on loopback.</summary>
public sealed class JoinTokensOnEtcdTests
{
    [Fact]
    public Task JoinToken_MadeOnOneReplica_JoinsASidecarOnAnother_RevokedOnAThird_RefusedEverywhere() =>
        EtcdMesh.RunAsync(3, async (etcd, mesh, replicas) =>
        {
            var (a, b, c) = (replicas[0], replicas[1], replicas[2]);
            mesh.UseJoinToken = false;
            // Made through B with A's admin token (the mesh's, shared through etcd).
            var (id, token) = await CreateAsync(mesh, b, MeshCluster.AdminTokenOf(a));
            var tokenFile = Path.Combine(mesh.Root, "shared-join-token");
            await File.WriteAllTextAsync(tokenFile, token);

            var ratings = await mesh.StartServiceOnAsync(c, "ratings", "ratings-1", "--join-token-file", tokenFile);
            Assert.True(ratings.Process.HasLogged("(join token)"), "ratings-1 got its first certificate from C with the token made on B");
            Assert.Contains("ratings-1", await EtcdMesh.InstancesAsync(mesh, a));
            Assert.Contains(id, await ListAsync(mesh, c));

            // Revoked through A: C refuses it from then on.
            using (var revoke = new HttpRequestMessage(HttpMethod.Delete, new Uri(a.Admin, $"/v1/join-tokens/{id}")))
            {
                revoke.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(a));
                using var revoked = await mesh.Http.SendAsync(revoke);
                Assert.True(revoked.IsSuccessStatusCode, $"revoke: {(int)revoked.StatusCode}");
            }
            var refused = mesh.StartSidecar("ratings", "ratings-2", 1, "--join-token-file", tokenFile);
            await Eventually.TrueAsync(() => Task.FromResult(refused.Process.HasLogged($"join token {id} was revoked")),
                TimeSpan.FromSeconds(30), () => "a sidecar presenting the revoked token is refused");
        });

    private static async Task<(string Id, string Token)> CreateAsync(MeshCluster mesh, ControlPlane cp, string adminToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(cp.Admin, "/v1/join-tokens")) { Content = JsonContent.Create(new { service = "ratings" }) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", adminToken);
        using var response = await mesh.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK || response.StatusCode == HttpStatusCode.Created, $"creating a join token: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        return (doc.RootElement.GetProperty("id").GetString()!, doc.RootElement.GetProperty("token").GetString()!);
    }

    private static async Task<string> ListAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(cp.Admin, "/v1/join-tokens"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(cp));
        using var response = await mesh.Http.SendAsync(request);
        return await response.Content.ReadAsStringAsync();
    }
}
