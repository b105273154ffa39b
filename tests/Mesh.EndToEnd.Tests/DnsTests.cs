using System.Diagnostics;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The registry over DNS, asked by Debian's <c>dig</c> (a client nobody here wrote), over UDP and TCP:
/// real sidecars register, one fails its health check, one goes away.
/// </summary>
public sealed class DnsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Dig_SeesHealthyInstancesOnly_ByServiceTagAndClusterLocalName_AndFollowsChanges()
    {
        await using var mesh = new MeshCluster();
        var dnsPort = FreePorts.Next();
        mesh.ControlPlaneArgs.AddRange(["--dns-port", dnsPort.ToString()]);
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            var v1 = await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
            var v2 = await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "reviews.default"), e => e.Length == 2, TimeSpan.FromSeconds(20), () => "both reviews routable");
            Assert.True(cp.Process.HasLogged($"DNS on 127.0.0.1:{dnsPort}"), "the control plane says where DNS is");

            // A second control plane on the same DNS port stops at once with one line saying why, not a stack trace.
            await using (var second = MeshProcess.StartDll("second control plane", RepoPaths.ControlPlaneDll,
            [
                "--config-dir", cp.ConfigDir, "--data-dir", Path.Combine(mesh.Root, "cp2"), "--port", FreePorts.Next().ToString(),
                "--admin-port", FreePorts.Next().ToString(), "--listen", "127.0.0.1", "--dns-port", dnsPort.ToString(),
            ]))
            {
                Assert.Equal(1, await second.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                Assert.True(second.HasLogged($"mesh-control-plane: DNS port 127.0.0.1:{dnsPort} cannot be bound"), second.Output);
                Assert.False(second.HasLogged("   at "), "a stack trace: " + second.Output);
            }

            // SRV: each instance's port (the sidecar's inbound port), over UDP and over TCP.
            foreach (var transport in new[] { "+notcp", "+tcp" })
            {
                var srv = await DigAsync(dnsPort, "reviews.service.consul", "SRV", transport);
                Assert.Equal([$"1 1 {v1.InboundPort} 7f000001.addr.consul.", $"1 1 {v2.InboundPort} 7f000001.addr.consul."], srv.Order(StringComparer.Ordinal));
            }
            Assert.Equal(["127.0.0.1"], await DigAsync(dnsPort, "reviews.service.consul", "A"));
            Assert.Equal(["127.0.0.1"], await DigAsync(dnsPort, "7f000001.addr.consul", "A"));
            Assert.Equal([$"1 1 {v2.InboundPort} 7f000001.addr.consul."], await DigAsync(dnsPort, "v2.reviews.service.consul", "SRV"));
            Assert.Equal(2, (await DigAsync(dnsPort, "reviews.default.svc.cluster.local", "SRV")).Length);
            Assert.Contains("status: NXDOMAIN", await DigFullAsync(dnsPort, "details.service.consul", "A"), StringComparison.Ordinal);
            Assert.Contains("status: REFUSED", await DigFullAsync(dnsPort, "example.com", "A"), StringComparison.Ordinal);
            Assert.Contains("ANSWER: 0", await DigFullAsync(dnsPort, "reviews.service.consul", "TXT"), StringComparison.Ordinal);

            // v2's app fails its health check: it leaves the answer; back up, it returns.
            var clock = Stopwatch.StartNew();
            using (await mesh.Http.PostAsync(new Uri($"http://127.0.0.1:{v2.AppPort}/admin/health/down"), null)) { }
            await Eventually.ValueAsync(() => DigAsync(dnsPort, "reviews.service.consul", "SRV"), a => a.Length == 1, TimeSpan.FromSeconds(10), () => "v2 leaves the DNS answer");
            output.WriteLine($"unhealthy to out of the DNS answer: {clock.ElapsedMilliseconds} ms");
            Assert.Equal([$"1 1 {v1.InboundPort} 7f000001.addr.consul."], await DigAsync(dnsPort, "reviews.service.consul", "SRV"));
            Assert.Contains("status: NOERROR", await DigFullAsync(dnsPort, "v2.reviews.service.consul", "SRV"), StringComparison.Ordinal);
            using (await mesh.Http.PostAsync(new Uri($"http://127.0.0.1:{v2.AppPort}/admin/health/up"), null)) { }
            await Eventually.ValueAsync(() => DigAsync(dnsPort, "reviews.service.consul", "SRV"), a => a.Length == 2, TimeSpan.FromSeconds(10), () => "v2 back in the DNS answer");

            // v1's sidecar stops (deregisters): it leaves the answer.
            v1.Process.Terminate();
            await Eventually.ValueAsync(() => DigAsync(dnsPort, "reviews.service.consul", "SRV"), a => a.Length == 1, TimeSpan.FromSeconds(15), () => "v1 leaves the DNS answer");
            Assert.Equal([$"1 1 {v2.InboundPort} 7f000001.addr.consul."], await DigAsync(dnsPort, "reviews.service.consul", "SRV"));
            // TTL 0 by default, as Consul.
            Assert.Contains("\t0\tIN\tSRV\t", await DigFullAsync(dnsPort, "reviews.service.consul", "SRV"), StringComparison.Ordinal);
        });
    }

    private static async Task<string[]> DigAsync(int port, string name, string type, string transport = "+notcp") =>
        (await RunDigAsync(port, name, type, transport, "+short")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static Task<string> DigFullAsync(int port, string name, string type) => RunDigAsync(port, name, type, "+notcp", "+nocmd");

    private static async Task<string> RunDigAsync(int port, string name, string type, string transport, string style)
    {
        var start = new ProcessStartInfo("dig", ["@127.0.0.1", "-p", port.ToString(), "+time=2", "+tries=1", transport, style, name, type])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var dig = Process.Start(start)!;
        var text = await dig.StandardOutput.ReadToEndAsync();
        await dig.WaitForExitAsync();
        Assert.True(dig.ExitCode == 0, $"dig {name} {type} exited {dig.ExitCode}: {text}{await dig.StandardError.ReadToEndAsync()}");
        return text;
    }
}
