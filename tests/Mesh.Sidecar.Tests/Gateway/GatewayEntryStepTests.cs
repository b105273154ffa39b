using Mesh.Core.Config.Loading;
using Mesh.Sidecar.Gateway;
using Mesh.Sidecar.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Sidecar.Tests.Gateway;

/// <summary>The gateway's first step: which server of a port serves a host, its redirect, and the 404 for hosts no server of the port serves.</summary>
public sealed class GatewayEntryStepTests
{
    private static GatewayListeners Listeners(int offset = 1000)
    {
        var loaded = ConfigLoader.Load([("g.yaml", """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: edge}
            spec:
              servers:
              - port: {number: 80, name: http, protocol: HTTP}
                hosts: ["*.example.com"]
                tls: {httpsRedirect: true}
              - port: {number: 80, name: http-exact, protocol: HTTP}
                hosts: [plain.example.com, "./*"]
              - port: {number: 8443, name: https, protocol: HTTPS}
                hosts: [secure.example.com]
                tls: {mode: SIMPLE, credentialName: secure}
            """)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var options = SidecarOptions.Parse(["--gateway", "edge", "--control-plane", "https://127.0.0.1:15012", "--data-dir", "/tmp/x", "--gateway-port-offset", offset.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var listeners = new GatewayListeners(options, NullLogger<GatewayListeners>.Instance);
        listeners.Apply(loaded.Config!);
        return listeners;
    }

    private static async Task<(DefaultHttpContext Context, bool Forwarded)> SendAsync(GatewayListeners listeners, int port, string host, string path = "/")
    {
        var forwarded = false;
        var step = new GatewayEntryStep(_ => { forwarded = true; return Task.CompletedTask; }, listeners);
        var context = new DefaultHttpContext();
        context.Connection.LocalPort = port;
        context.Request.Host = new HostString(host);
        context.Request.Path = path;
        context.Request.QueryString = new QueryString("?q=1");
        context.Response.Body = new MemoryStream();
        await step.InvokeAsync(context);
        return (context, forwarded);
    }

    [Fact]
    public void ServerFor_ExactHostBeatsWildcardBeatsStar()
    {
        var plan = Listeners().Plan;

        Assert.True(plan.TryGetListener(1080, out var http));
        Assert.Equal((80, false), (http.PublicPort, http.Https));
        Assert.False(http.ServerFor("plain.example.com")!.HttpsRedirect);
        Assert.True(http.ServerFor("shop.example.com")!.HttpsRedirect);
        Assert.False(http.ServerFor("localhost")!.HttpsRedirect);
        Assert.False(plan.TryGetListener(80, out _)); // bound on the offset port only
    }

    [Fact]
    public async Task HttpsRedirect_PointsAtTheGatewaysHttpsPortForThatHost()
    {
        var (context, forwarded) = await SendAsync(Listeners(), 1080, "secure.example.com", "/a/b");

        Assert.False(forwarded);
        Assert.Equal(301, context.Response.StatusCode);
        Assert.Equal("https://secure.example.com:8443/a/b?q=1", context.Response.Headers.Location.ToString());
    }

    [Fact]
    public async Task HostNoServerOfThePortServes_Is404NamingTheHostsServed()
    {
        var (context, forwarded) = await SendAsync(Listeners(), 9443, "plain.example.com");

        Assert.False(forwarded);
        Assert.Equal(404, context.Response.StatusCode);
        context.Response.Body.Position = 0;
        Assert.Equal("mesh gateway: host 'plain.example.com' is not served on port 8443. Hosts served there: secure.example.com.\n", new StreamReader(context.Response.Body).ReadToEnd());
    }

    [Fact]
    public async Task ServedHostWithoutRedirect_GoesOnToRouting()
    {
        Assert.True((await SendAsync(Listeners(), 1080, "plain.example.com")).Forwarded);
    }

    [Fact]
    public void Apply_PortOffsetPastTheLastPort_LeavesThatPortOut()
    {
        var plan = Listeners(offset: 60000).Plan;

        Assert.Equal([60080], plan.Listeners.Select(l => l.ListenPort)); // 8443 + 60000 is no port
    }
}
