using System.Net;
using Mesh.Core.Failover;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Mesh.Sidecar.Tests.ControlPlane;

/// <summary>
/// The sidecar's control-plane client fails over between replicas through <see cref="FailoverHandler"/>:
/// real Kestrel servers on loopback, one stopped or answering 503 on purpose.
/// </summary>
public sealed class FailoverHandlerTests
{
    [Fact]
    public async Task Send_FirstReplicaStopped_SameCallAnsweredByTheNext_AndCallsStayThere()
    {
        var (a, b, servers, moves) = await PairAsync();
        await using var _ = a;
        await using var __ = b;
        using var client = Client(servers);

        Assert.Equal("a", await client.GetStringAsync("/who"));
        await a.DisposeAsync();
        Assert.Equal("b", await client.GetStringAsync("/who"));
        Assert.Equal("b", await client.GetStringAsync("/who"));
        Assert.Equal([$"{a.Url.Port}->{b.Url.Port}"], moves);
        Assert.Equal(b.Url, servers.Current.Url);
    }

    [Fact]
    public async Task Send_ReplicaAnswers503_NextReplicaAnswers_LastReplicas503IsReturned()
    {
        await using var a = await Replica.StartAsync(IPAddress.Loopback, 0, "a", status: 503);
        await using var b = await Replica.StartAsync(IPAddress.Loopback, 0, "b");
        using var client = Client(new ServerList([a.Url, b.Url]));
        Assert.Equal("b", await client.GetStringAsync("/who"));

        await using var c = await Replica.StartAsync(IPAddress.Loopback, 0, "c", status: 503);
        using var only503 = Client(new ServerList([c.Url]));
        using var response = await only503.GetAsync("/who");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task Send_EveryReplicaDown_ThrowsAfterTryingEach()
    {
        var (a, b, servers, moves) = await PairAsync();
        await using var _ = a;
        await using var __ = b;
        using var client = Client(servers);
        await a.DisposeAsync();
        await b.DisposeAsync();
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync("/who"));
        Assert.Equal([$"{a.Url.Port}->{b.Url.Port}", $"{b.Url.Port}->{a.Url.Port}"], moves); // each tried once, in order
    }

    [Fact]
    public async Task Send_DnsNameWithTwoAddresses_TriedAddressByAddress_HostNameKept()
    {
        // Two replicas on one port, at 127.0.0.1 and 127.0.0.2, behind one name (the resolver is the fake here).
        await using var a = await Replica.StartAsync(IPAddress.Loopback, 0, "a");
        await using var b = await Replica.StartAsync(IPAddress.Parse("127.0.0.2"), a.Url.Port, "b");
        var servers = new ServerList([new Uri($"http://cp.mesh.test:{a.Url.Port}")],
            (host, _) => Task.FromResult(host == "cp.mesh.test" ? new[] { IPAddress.Loopback, IPAddress.Parse("127.0.0.2") } : []));
        using var client = Client(servers);

        Assert.Equal("a", await client.GetStringAsync("/who"));
        await a.DisposeAsync();
        Assert.Equal("b", await client.GetStringAsync("/who"));
        Assert.Equal($"cp.mesh.test:{a.Url.Port}", b.LastHost);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), servers.Current.Address);
    }

    /// <summary>Two replicas on 127.0.0.1, a list of both, and the moves it reports ("portA->portB").</summary>
    private static async Task<(Replica A, Replica B, ServerList Servers, List<string> Moves)> PairAsync()
    {
        var a = await Replica.StartAsync(IPAddress.Loopback, 0, "a");
        var b = await Replica.StartAsync(IPAddress.Loopback, 0, "b");
        var servers = new ServerList([a.Url, b.Url]);
        var moves = new List<string>();
        servers.Moved += (from, to, _) => moves.Add($"{from.Url.Port}->{to.Url.Port}");
        return (a, b, servers, moves);
    }

    private static HttpClient Client(ServerList servers) =>
        new(new FailoverHandler(servers, new SocketsHttpHandler { UseProxy = false, ConnectCallback = ServerList.ConnectAsync, ConnectTimeout = TimeSpan.FromSeconds(3) }))
        {
            BaseAddress = servers.Urls[0],
            Timeout = TimeSpan.FromSeconds(10),
        };

    /// <summary>A Kestrel server answering its name (or a fixed status) on /who.</summary>
    private sealed class Replica : IAsyncDisposable
    {
        private WebApplication? _app;

        public required Uri Url { get; init; }
        public string? LastHost { get; private set; }

        public static async Task<Replica> StartAsync(IPAddress address, int port, string name, int status = 200)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseKestrel(k => k.Listen(address, port));
            var app = builder.Build();
            Replica? self = null;
            app.MapGet("/who", (HttpContext context) =>
            {
                self!.LastHost = context.Request.Host.Value;
                return status == 200 ? Results.Text(name) : Results.StatusCode(status);
            });
            await app.StartAsync();
            var bound = new Uri(app.Urls.Single());
            self = new Replica { Url = new Uri($"http://{address}:{bound.Port}") };
            self._app = app;
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _app, null) is { } app)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
    }
}
