using System.Net;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The native sidecar binary in gateway mode: the Gateway in its snapshot (generated JSON metadata only),
/// the ports Kestrel binds from it, and TLS from PEM files all work ahead-of-time compiled.
/// </summary>
[Collection(NativeSidecar.Collection)]
public sealed class NativeGatewayTests(NativeSidecar native)
{
    [Fact]
    public async Task NativeGateway_TerminatesTlsAndRoutesByItsGateway()
    {
        await using var mesh = new MeshCluster { SidecarBinary = await native.BinaryAsync() };
        using var ca = TestCertificates.ForeignCa("CN=Gateway Test CA");
        var credentials = Path.Combine(mesh.Root, "credentials");
        GatewayTests.WritePem(ca, "native.example.com", Path.Combine(credentials, "native", "tls.crt"), Path.Combine(credentials, "native", "tls.key"));
        await mesh.RunAsync(async () =>
        {
            await mesh.StartControlPlaneAsync();
            mesh.WriteConfig("edge.yaml", GatewayTests.HttpsGateway("native.example.com", "{mode: SIMPLE, credentialName: native}") + """
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: native}
                spec:
                  hosts: [native.example.com]
                  gateways: [edge]
                  http:
                  - route: [{destination: {host: reviews}}]
                """);
            await mesh.StartServiceAsync("reviews", "reviews-1");
            var https = FreePorts.Next();
            var gateway = mesh.StartSidecar("edge", "edge-1", 0, "--gateway", "edge", "--gateway-listen", "127.0.0.1",
                "--gateway-port", $"443={https}", "--credentials-dir", credentials);
            await mesh.WaitReadyAsync(gateway);

            var served = new List<string>();
            using var client = GatewayTests.OutsideClient(https, ca, served);
            var response = await Eventually.ValueAsync(async () => await client.GetAsync(new Uri("https://native.example.com/books/1")), r => r.StatusCode == HttpStatusCode.OK,
                TimeSpan.FromSeconds(20), () => "the native gateway answers over HTTPS");
            Assert.Equal("reviews-1 GET /books/1", await response.Content.ReadAsStringAsync());
            Assert.Equal("CN=native.example.com", served[^1]);
            Assert.DoesNotContain(mesh.Sidecars, s => s.Process.HasLogged("NotSupportedException") || s.Process.HasLogged("fail:") || s.Process.HasLogged("crit:"));
        });
    }
}
