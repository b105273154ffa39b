using System.Net;
using System.Threading.RateLimiting;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Limits;
using Mesh.ControlPlane.Security;
using Mesh.Core.Security;
using Microsoft.AspNetCore.Http;

namespace Mesh.ControlPlane.Tests.Limits;

public sealed class ControlPlaneRateLimitsTests
{
    private const int SidecarPort = 15012;

    [Fact]
    public void Registrations_OverTheBurstFromOneAddress_AreRefusedByThePerAddressLimit_OtherAddressesGoOn()
    {
        using var limits = Limits(new RateLimitSettings { RegistrationsPerSecond = 2, Exempt = [] });

        var accepted = Enumerable.Range(0, 25).Count(i => Acquire(limits, "POST", "/v1/register", "10.0.0.1", "reviews", out _));
        var refused = Acquire(limits, "POST", "/v1/register", "10.0.0.1", "reviews", out var limit);

        Assert.Equal(2 * RateLimitSettings.BurstSeconds, accepted);
        Assert.False(refused);
        Assert.Equal(ControlPlaneRateLimits.RegisterPerAddress, limit);
        Assert.True(Acquire(limits, "POST", "/v1/register", "10.0.0.2", "ratings", out _), "another address and identity are not affected");
    }

    [Fact]
    public void Registrations_OfOneIdentityFromManyAddresses_AreRefusedByThePerIdentityLimit()
    {
        using var limits = Limits(new RateLimitSettings { RegistrationsPerSecond = 1, Exempt = [] });

        var accepted = Enumerable.Range(0, 15).Count(i => Acquire(limits, "POST", "/v1/register", $"10.0.1.{i}", "reviews", out _));
        var refused = Acquire(limits, "POST", "/v1/register", "10.0.2.1", "reviews", out var limit);

        Assert.Equal(RateLimitSettings.BurstSeconds, accepted);
        Assert.False(refused);
        Assert.Equal(ControlPlaneRateLimits.RegisterPerIdentity, limit);
        Assert.True(Acquire(limits, "POST", "/v1/register", "10.0.2.1", "ratings", out _), "another identity from the same address goes on");
    }

    [Fact]
    public void Loopback_IsExemptFromPerAddressLimitsByDefault_ButNotFromPerIdentityOnes()
    {
        using var limits = Limits(new RateLimitSettings { CsrsPerSecond = 1, RegistrationsPerSecond = 1 });

        Assert.All(Enumerable.Range(0, 100), i => Assert.True(Acquire(limits, "POST", "/v1/certificates", "127.0.0.1", null, out _)));
        Assert.All(Enumerable.Range(0, 10), i => Assert.True(Acquire(limits, "POST", "/v1/register", "127.0.0.1", $"svc-{i}", out _)));
        Assert.All(Enumerable.Range(0, 100), i => Assert.True(Acquire(limits, "POST", "/v1/certificates", "::1", null, out _)));
        Assert.False(Acquire(limits, "POST", "/v1/certificates", "10.0.0.1", null, out _) && Enumerable.Range(0, 20).All(i => Acquire(limits, "POST", "/v1/certificates", "10.0.0.1", null, out _)),
            "the same CSR burst from another address is limited");
        // Per identity, svc-1 has used one of its burst; the rest of it is all it gets, from loopback too.
        Assert.Equal(RateLimitSettings.BurstSeconds - 1, Enumerable.Range(0, 20).Count(i => Acquire(limits, "POST", "/v1/register", "127.0.0.1", "svc-1", out _)));
    }

    [Fact]
    public void HeartbeatsDeregistrationsAndTheAdminPort_AreNeverLimited()
    {
        using var limits = Limits(new RateLimitSettings { CsrsPerSecond = 1, RegistrationsPerSecond = 1, MaxWatchesPerAddress = 1, MaxWatchesPerIdentity = 1, Exempt = [] });

        Assert.All(Enumerable.Range(0, 200), i => Assert.True(Acquire(limits, "PUT", "/v1/instances/reviews-1/heartbeat", "10.0.0.1", "reviews", out _)));
        Assert.All(Enumerable.Range(0, 200), i => Assert.True(Acquire(limits, "DELETE", "/v1/instances/reviews-1", "10.0.0.1", "reviews", out _)));
        Assert.All(Enumerable.Range(0, 200), i => Assert.True(Acquire(limits, "POST", "/v1/register", "10.0.0.1", "reviews", out _, port: 15014)));
    }

    [Fact]
    public void Watches_AreLimitedWhileOpen_AndAPermitReturnsWhenAWatchEnds()
    {
        using var limits = Limits(new RateLimitSettings { MaxWatchesPerAddress = 2, MaxWatchesPerIdentity = 3, Exempt = [] });

        var first = Lease(limits, "GET", "/v1/snapshot", "10.0.0.1", "reviews");
        var second = Lease(limits, "GET", "/v1/snapshot", "10.0.0.1", "reviews");
        var third = Lease(limits, "GET", "/v1/snapshot", "10.0.0.1", "reviews");
        Assert.True(first.IsAcquired && second.IsAcquired);
        Assert.False(third.IsAcquired);
        Assert.True(third.TryGetMetadata(NamedRateLimiter.Limit, out var limit));
        Assert.Equal(ControlPlaneRateLimits.WatchesPerAddress, limit);

        var elsewhere = Lease(limits, "GET", "/v1/snapshot", "10.0.0.2", "reviews");
        var overIdentity = Lease(limits, "GET", "/v1/snapshot", "10.0.0.3", "reviews");
        Assert.True(elsewhere.IsAcquired);
        Assert.False(overIdentity.IsAcquired);
        Assert.True(overIdentity.TryGetMetadata(NamedRateLimiter.Limit, out limit));
        Assert.Equal(ControlPlaneRateLimits.WatchesPerIdentity, limit);

        first.Dispose();
        Assert.True(Lease(limits, "GET", "/v1/snapshot", "10.0.0.3", "reviews").IsAcquired, "a watch that ended frees its permit");
    }

    [Fact]
    public void Csrs_PerIdentity_AreCountedPerJoinTokenOrIdentity()
    {
        using var limits = Limits(new RateLimitSettings { CsrsPerSecond = 1 });

        Assert.Equal(RateLimitSettings.BurstSeconds, Enumerable.Range(0, 20).Count(_ => limits.AcquireCsr("join-token:abc").IsAcquired));
        var refused = limits.AcquireCsr("join-token:abc");
        Assert.True(refused.TryGetMetadata(NamedRateLimiter.Limit, out var limit));
        Assert.Equal(ControlPlaneRateLimits.CsrPerIdentity, limit);
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) && retryAfter > TimeSpan.Zero, "a refusal says when to come back");
        Assert.True(limits.AcquireCsr("join-token:other").IsAcquired);
    }

    [Fact]
    public void ZeroTurnsALimitOff()
    {
        using var limits = Limits(new RateLimitSettings { RegistrationsPerSecond = 0, Exempt = [] });

        Assert.All(Enumerable.Range(0, 1000), i => Assert.True(Acquire(limits, "POST", "/v1/register", "10.0.0.1", "reviews", out _)));
    }

    [Theory]
    [InlineData("10.1.2.3", "10.1.2.3")]
    [InlineData("::ffff:10.1.2.3", "10.1.2.3")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64")]
    public void AddressKey_IsTheIPv4AddressOrTheIPv6Slash64(string address, string key) =>
        Assert.Equal(key, ControlPlaneRateLimits.AddressKey(IPAddress.Parse(address)));

    private static ControlPlaneRateLimits Limits(RateLimitSettings settings) =>
        new(new ControlPlaneOptions { ConfigDir = "/tmp", DataDir = "/tmp", Port = SidecarPort, RateLimits = settings });

    private static bool Acquire(ControlPlaneRateLimits limits, string method, string path, string remote, string? service, out string? limit, int port = SidecarPort)
    {
        using var lease = Lease(limits, method, path, remote, service, port);
        limit = lease.TryGetMetadata(NamedRateLimiter.Limit, out var name) ? name : null;
        return lease.IsAcquired;
    }

    private static RateLimitLease Lease(ControlPlaneRateLimits limits, string method, string path, string remote, string? service, int port = SidecarPort)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Path = path;
        context.Connection.LocalPort = port;
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        if (service is not null)
        {
            context.User = MeshAuthentication.WorkloadPrincipal(new SpiffeId("cluster.local", "default", service));
        }
        return limits.Global.AttemptAcquire(context);
    }
}
