using System.Net;
using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The sidecar published as a native (ahead-of-time compiled) binary, as the bench and the Docker
/// image run it. Reflection-based JSON is off there, so every message the sidecar exchanges with the
/// control plane and every admin page must work from generated metadata: this test goes through all
/// of them with real processes. It publishes the binary itself (about a minute) and runs alone, after
/// the parallel tests, so the compiler does not steal their CPU.
/// </summary>
[Collection(NativeSidecar.Collection)]
public sealed class NativeSidecarTests(NativeSidecar native)
{
    [Fact]
    public async Task NativeSidecar_JoinsRoutesOverMutualTlsAndServesAdminPages()
    {
        await using var mesh = new MeshCluster { SidecarBinary = await native.BinaryAsync() };
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            mesh.WriteConfig("reviews.yaml", """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: reviews}
                spec:
                  host: reviews
                  trafficPolicy:
                    loadBalancer: {simple: LEAST_REQUEST}
                    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 5s}
                  subsets:
                  - {name: v1, labels: {version: v1}}
                """);
            // Join token, CSR, certificate, registration and lease: all JSON exchanged with the control plane.
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            var server = await mesh.StartServiceAsync("reviews", "reviews-1", "--label", "version=v1");
            // reviews registering after productpage's first snapshot reaches it as a delta.
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.SequenceEqual(["reviews-1"]),
                TimeSpan.FromSeconds(20), () => "reviews routable from productpage");

            var (status, body, response) = await mesh.CallAsync(caller, "reviews", "/books/1");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.EndsWith(" GET /books/1", body, StringComparison.Ordinal);
            Assert.Equal("reviews-1", response.Headers.GetValues("x-app").Single());
            // The server side saw the caller's certificate: it counted the call by the caller's SPIFFE identity.
            var metrics = await mesh.Http.GetStringAsync(new Uri(server.Admin, "/metrics"));
            Assert.Contains("source=\"productpage.default\"", metrics, StringComparison.Ordinal);

            // /config_dump: the snapshot with its enums as Istio spells them, and no secret.
            var dump = await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/config_dump"));
            using (var doc = JsonDocument.Parse(dump))
            {
                Assert.Equal("productpage", doc.RootElement.GetProperty("service").GetString());
                Assert.True(doc.RootElement.GetProperty("registered").GetBoolean());
                Assert.True(doc.RootElement.GetProperty("version").GetInt64() > 0);
            }
            Assert.Contains("\"LEAST_REQUEST\"", dump, StringComparison.Ordinal);
            Assert.DoesNotContain("PRIVATE KEY", dump, StringComparison.Ordinal);

            // /clusters: the endpoint with its health, ejection state and calls in flight.
            var clusters = await mesh.Http.GetStringAsync(new Uri(caller.Admin, "/clusters"));
            foreach (var field in new[] { "\"instance\": \"reviews-1\"", "\"ejected\": false", "\"inFlight\": 0" })
            {
                Assert.Contains(field, clusters, StringComparison.Ordinal);
            }

            // A config change after start is applied, and the sidecar acknowledges it.
            await mesh.ApplyConfigAsync("reviews-route.yaml", """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: reviews}
                spec:
                  hosts: [reviews]
                  http:
                  - match: [{uri: {prefix: /native}}]
                    directResponse: {status: 418}
                  - route: [{destination: {host: reviews, subset: v1}}]
                """);
            Assert.Equal((HttpStatusCode)418, (await mesh.CallAsync(caller, "reviews", "/native")).Status);
            Assert.Equal(HttpStatusCode.OK, (await mesh.CallAsync(caller, "reviews", "/books/2")).Status);

            // Heartbeats keep the lease (JSON too): still routable after several lease lifetimes.
            await Task.Delay(MeshCluster.LeaseTtl * 2);
            Assert.Equal(["reviews-1"], await mesh.EndpointsAsync(caller, "reviews.default"));
            Assert.DoesNotContain(mesh.Sidecars, s => s.Process.HasLogged("NotSupportedException") || s.Process.HasLogged("fail:"));
        });
    }
}

/// <summary>Publishes the native sidecar once for the tests that use it.</summary>
public sealed class NativeSidecar
{
    public const string Collection = "native sidecar";

    private readonly Lazy<Task<string>> _binary = new(PublishAsync);

    public Task<string> BinaryAsync() => _binary.Value;

    private static async Task<string> PublishAsync()
    {
        var output = Path.Combine(RepoPaths.Root, "src", "Mesh.Sidecar", "bin", "native");
        await using var publish = MeshProcess.Start("dotnet publish", "dotnet",
            ["publish", Path.Combine(RepoPaths.Root, "src", "Mesh.Sidecar"), "-c", "Release", "-r", "linux-x64", "-nologo", "-o", output]);
        var exitCode = await publish.WaitForExitAsync(TimeSpan.FromMinutes(10));
        var binary = Path.Combine(output, "Mesh.Sidecar");
        Assert.True(exitCode == 0 && File.Exists(binary), $"dotnet publish of the native sidecar failed ({exitCode}):\n{publish.Output}");
        return binary;
    }
}

/// <summary>Runs after the parallel tests, alone: publishing takes both cores for a minute.</summary>
[CollectionDefinition(NativeSidecar.Collection, DisableParallelization = true)]
public sealed class NativeSidecarCollection : ICollectionFixture<NativeSidecar>;
