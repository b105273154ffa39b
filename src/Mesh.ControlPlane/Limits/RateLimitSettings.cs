using System.Net;
using System.CommandLine;
using Mesh.Core.Hosting;

namespace Mesh.ControlPlane.Limits;

/// <summary>
/// The rate limits of the sidecar API, from the command line. Rates are per second with bursts of
/// <see cref="BurstSeconds"/> seconds' worth; 0 turns a limit off. Heartbeats and deregistrations are
/// never limited: a refused heartbeat would expire a live lease.
/// </summary>
internal sealed record RateLimitSettings
{
    /// <summary>A token bucket holds this many seconds of its rate, so a fleet restarting at once is not refused.</summary>
    public const int BurstSeconds = 10;

    public static readonly IReadOnlyList<IPNetwork> Loopback = [new(IPAddress.Loopback, 8), new(IPAddress.IPv6Loopback, 128)];

    /// <summary>CSRs per second per join token or workload identity, and per remote address.</summary>
    public int CsrsPerSecond { get; init; } = 20;

    /// <summary>Registrations per second per workload identity (service and namespace), and per remote address.</summary>
    public int RegistrationsPerSecond { get; init; } = 100;

    /// <summary>Snapshot watches open at once per workload identity (one per sidecar, so a service's instance count).</summary>
    public int MaxWatchesPerIdentity { get; init; } = 10_000;

    /// <summary>Snapshot watches open at once per remote address (one per sidecar on that host or behind that NAT).</summary>
    public int MaxWatchesPerAddress { get; init; } = 1_000;

    /// <summary>Remote addresses the per-address limits do not apply to (loopback by default: the benchmark and local tools).</summary>
    public IReadOnlyList<IPNetwork> Exempt { get; init; } = Loopback;

    public bool IsExempt(IPAddress address) => Exempt.Any(network => network.Contains(address));

    private static readonly RateLimitSettings Defaults = new();
    private static readonly Option<int> CsrRate = Mesh.Core.Hosting.Flags.Int("csr-rate", "per-second", $"CSRs per second per join token or identity and per remote address, bursts of {BurstSeconds} s' worth; 0 = no limit", Defaults.CsrsPerSecond, 0, 1_000_000);
    private static readonly Option<int> RegisterRate = Mesh.Core.Hosting.Flags.Int("register-rate", "per-second", $"registrations per second per identity and per remote address, bursts of {BurstSeconds} s' worth; 0 = no limit", Defaults.RegistrationsPerSecond, 0, 1_000_000);
    private static readonly Option<int> MaxWatchesPerIdentityFlag = Mesh.Core.Hosting.Flags.Int("max-watches-per-identity", "count", "snapshot watches open at once per identity; 0 = no limit", Defaults.MaxWatchesPerIdentity, 0, 10_000_000);
    private static readonly Option<int> MaxWatchesPerAddressFlag = Mesh.Core.Hosting.Flags.Int("max-watches-per-address", "count", "snapshot watches open at once per remote address; 0 = no limit", Defaults.MaxWatchesPerAddress, 0, 10_000_000);
    private static readonly Option<string> ExemptFlag = Mesh.Core.Hosting.Flags.Text("rate-limit-exempt", "addresses", "comma-separated addresses or CIDRs the per-address limits skip, 'loopback' or 'none'", "loopback");

    /// <summary>The control plane's rate-limit flags.</summary>
    public static readonly Option[] All = [CsrRate, RegisterRate, MaxWatchesPerIdentityFlag, MaxWatchesPerAddressFlag, ExemptFlag];

    public static RateLimitSettings Parse(ParseResult parsed) => new()
    {
        CsrsPerSecond = parsed.GetValue(CsrRate),
        RegistrationsPerSecond = parsed.GetValue(RegisterRate),
        MaxWatchesPerIdentity = parsed.GetValue(MaxWatchesPerIdentityFlag),
        MaxWatchesPerAddress = parsed.GetValue(MaxWatchesPerAddressFlag),
        Exempt = ParseExempt(parsed.GetValue(ExemptFlag)!),
    };

    /// <summary>"loopback", "none", or a comma-separated list of addresses and CIDRs (loopback may be one of them).</summary>
    public static IReadOnlyList<IPNetwork> ParseExempt(string text)
    {
        if (text.Trim() == "none")
        {
            return [];
        }
        var networks = new List<IPNetwork>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "loopback")
            {
                networks.AddRange(Loopback);
            }
            else if (IPAddress.TryParse(part, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            }
            // 10.0.0.1/8 is a typo for an address or for 10.0.0.0/8: refused rather than guessed.
            else if (IPNetwork.TryParse(part, out var network) && IPAddress.TryParse(part[..part.IndexOf('/', StringComparison.Ordinal)], out var given) && given.Equals(network.BaseAddress))
            {
                networks.Add(network);
            }
            else
            {
                throw new UsageException($"--rate-limit-exempt expects addresses or CIDRs (10.0.0.0/8), 'loopback' or 'none', got '{part}'");
            }
        }
        if (networks.Count == 0)
        {
            throw new UsageException($"--rate-limit-exempt expects addresses or CIDRs (10.0.0.0/8), 'loopback' or 'none', got '{text}'");
        }
        return networks;
    }
}
