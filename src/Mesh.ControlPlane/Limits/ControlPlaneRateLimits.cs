using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Security;

namespace Mesh.ControlPlane.Limits;

/// <summary>
/// The sidecar API's rate limits, on ASP.NET Core's rate limiting: CSRs, registrations and concurrent
/// snapshot watches, each per remote address and per identity. The per-address and per-identity limits
/// of registrations and watches run as the rate-limiting middleware's global limiter, after
/// authorization (so the identity is the proven one); a CSR's identity (its join token, or the
/// certificate it renews with) is known only inside the endpoint, which asks <see cref="AcquireCsr"/>
/// once the token or certificate has been checked, so a stranger cannot use up a real token's budget.
/// </summary>
internal sealed class ControlPlaneRateLimits : IDisposable
{
    public const string CsrPerAddress = "csr-per-address";
    public const string CsrPerIdentity = "csr-per-identity";
    public const string RegisterPerAddress = "register-per-address";
    public const string RegisterPerIdentity = "register-per-identity";
    public const string WatchesPerAddress = "watches-per-address";
    public const string WatchesPerIdentity = "watches-per-identity";

    /// <summary>What a refused watch is told to wait: a concurrency limit has no refill time to report.</summary>
    public static readonly TimeSpan WatchRetryAfter = TimeSpan.FromSeconds(5);

    private readonly RateLimitSettings _settings;
    private readonly int _sidecarPort;
    private readonly PartitionedRateLimiter<HttpContext> _perAddress;
    private readonly PartitionedRateLimiter<HttpContext> _perIdentity;
    private readonly PartitionedRateLimiter<string> _csrPerIdentity;

    public ControlPlaneRateLimits(ControlPlaneOptions options)
    {
        _settings = options.RateLimits;
        _sidecarPort = options.Port;
        _perAddress = PartitionedRateLimiter.Create<HttpContext, string>(context =>
        {
            var call = Classify(context);
            if (call == Call.None || context.Connection.RemoteIpAddress is not { } remote || _settings.IsExempt(Normalize(remote)))
            {
                return RateLimitPartition.GetNoLimiter("");
            }
            var key = AddressKey(remote);
            return call switch
            {
                Call.Csr => Bucket(CsrPerAddress, key, _settings.CsrsPerSecond),
                Call.Register => Bucket(RegisterPerAddress, key, _settings.RegistrationsPerSecond),
                _ => Concurrency(WatchesPerAddress, key, _settings.MaxWatchesPerAddress),
            };
        });
        _perIdentity = PartitionedRateLimiter.Create<HttpContext, string>(context =>
        {
            var call = Classify(context);
            if (call is not (Call.Register or Call.Watch) || context.User.Workload("-") is not { } caller)
            {
                return RateLimitPartition.GetNoLimiter("");
            }
            var key = $"{caller.Namespace}/{caller.Service}";
            return call == Call.Register
                ? Bucket(RegisterPerIdentity, key, _settings.RegistrationsPerSecond)
                : Concurrency(WatchesPerIdentity, key, _settings.MaxWatchesPerIdentity);
        });
        _csrPerIdentity = PartitionedRateLimiter.Create<string, string>(identity => Bucket(CsrPerIdentity, identity, _settings.CsrsPerSecond));
        Global = PartitionedRateLimiter.CreateChained(_perAddress, _perIdentity);
    }

    /// <summary>The middleware's limiter: per address first, then per identity.</summary>
    public PartitionedRateLimiter<HttpContext> Global { get; }

    /// <summary>A permit for one CSR of <paramref name="identity"/> (a join token id or a SPIFFE id, already checked).</summary>
    public RateLimitLease AcquireCsr(string identity) => _csrPerIdentity.AttemptAcquire(identity);

    /// <summary>The limit in words, for refusals and logs.</summary>
    public string Describe(string limit) => limit switch
    {
        CsrPerAddress => $"{_settings.CsrsPerSecond} CSRs/s per remote address, bursts of {_settings.CsrsPerSecond * RateLimitSettings.BurstSeconds} (--csr-rate)",
        CsrPerIdentity => $"{_settings.CsrsPerSecond} CSRs/s per join token or identity, bursts of {_settings.CsrsPerSecond * RateLimitSettings.BurstSeconds} (--csr-rate)",
        RegisterPerAddress => $"{_settings.RegistrationsPerSecond} registrations/s per remote address, bursts of {_settings.RegistrationsPerSecond * RateLimitSettings.BurstSeconds} (--register-rate)",
        RegisterPerIdentity => $"{_settings.RegistrationsPerSecond} registrations/s per identity, bursts of {_settings.RegistrationsPerSecond * RateLimitSettings.BurstSeconds} (--register-rate)",
        WatchesPerAddress => $"{_settings.MaxWatchesPerAddress} open snapshot watches per remote address (--max-watches-per-address)",
        WatchesPerIdentity => $"{_settings.MaxWatchesPerIdentity} open snapshot watches per identity (--max-watches-per-identity)",
        _ => limit,
    };

    /// <summary>
    /// The key of a remote address: the address itself for IPv4, its /64 for IPv6 (one host usually
    /// holds a whole /64, and rotating within it would otherwise escape the limit).
    /// </summary>
    internal static string AddressKey(IPAddress remote)
    {
        var address = Normalize(remote);
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private Call Classify(HttpContext context)
    {
        if (context.Connection.LocalPort != _sidecarPort)
        {
            return Call.None;
        }
        var (method, path) = (context.Request.Method, context.Request.Path);
        return method switch
        {
            "POST" when path == "/v1/certificates" => Call.Csr,
            "POST" when path == "/v1/register" => Call.Register,
            "GET" when path == "/v1/snapshot" => Call.Watch,
            _ => Call.None,
        };
    }

    private static RateLimitPartition<string> Bucket(string limit, string key, int perSecond) => perSecond == 0
        ? RateLimitPartition.GetNoLimiter(limit + "|" + key)
        : RateLimitPartition.Get(limit + "|" + key, _ => new NamedRateLimiter(limit, new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond * RateLimitSettings.BurstSeconds,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0, // refuse at once: a queued request holds a connection an attacker wants held
            AutoReplenishment = true,
        })));

    private static RateLimitPartition<string> Concurrency(string limit, string key, int max) => max == 0
        ? RateLimitPartition.GetNoLimiter(limit + "|" + key)
        : RateLimitPartition.Get(limit + "|" + key, _ => new NamedRateLimiter(limit, new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = max,
            QueueLimit = 0,
        })));

    public void Dispose()
    {
        Global.Dispose();
        _perAddress.Dispose();
        _perIdentity.Dispose();
        _csrPerIdentity.Dispose();
    }

    private enum Call
    {
        None,
        Csr,
        Register,
        Watch,
    }
}
