using Mesh.Core.Hosting;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Hosting;

internal sealed record ControlPlaneOptions
{
    public static readonly FlagSpec[] Flags =
    [
        new("config-dir", "dir", "directory of Istio YAML to serve, watched for edits (required)"),
        new("data-dir", "dir", "where the CA, registry state and versions are kept (required)"),
        new("port", "port", "sidecar API port, TLS (default 15012)"),
        new("admin-port", "port", "admin API port (default 15014)"),
        new("listen", "address", "address the sidecar API binds to (default 0.0.0.0)"),
        new("lease-ttl", "duration", "an instance whose lease is not renewed this long is removed (default 8s)"),
        new("heartbeat-interval", "duration", "how often sidecars renew leases (default 2s)"),
        new("restore-grace", "duration", "extra lease time for instances restored after a restart, while their sidecars reconnect (default 10s)"),
        new("disconnect-grace", "duration", "a sidecar whose watch connection closes abnormally and does not return within this time has its instance marked unhealthy; 0 turns it off (default 500ms)"),
        new("mass-expiry-threshold", "ratio", "hold lapsed leases when more than this fraction of all instances (and at least 10) lapse within one lease TTL; 1 turns it off (default 0.25)"),
        new("mass-expiry-hold", "duration", "how long such leases are held before they expire anyway (default 30s)"),
        new("trust-domain", "name", "trust domain of workload identities, spiffe://<trust-domain>/ns/<ns>/sa/<service> (default cluster.local)"),
        new("root-cert", "file", "PEM root CA to use on first start instead of making one (with --root-key; see certs/)"),
        new("root-key", "file", "PEM private key of --root-cert"),
        new("workload-cert-ttl", "duration", "lifetime of workload certificates; sidecars renew at half of it (default 24h)"),
        new("push-debounce", "duration", "changes within this time after the first are pushed to sidecars together (default 100ms; 0 pushes each at once)"),
        new("trace-sampling", "ratio", "share of the control plane's own API calls traced, 0..1 (default 1)"),
        new("dns-port", "port", "the registry over DNS (UDP and TCP) on --listen, as Consul's: <service>.service.consul, <service>.<namespace>.svc.cluster.local; 0 turns it off (default 8600)"),
        new("dns-ttl", "duration", "TTL of every DNS answer (default 0s, as Consul)"),
        .. Limits.RateLimitSettings.Flags,
        new("help", null, "print this help"),
    ];

    public required string ConfigDir { get; init; }
    public required string DataDir { get; init; }
    public int Port { get; init; } = 15012;
    public int AdminPort { get; init; } = 15014;
    public string Listen { get; init; } = "0.0.0.0";
    public RegistryOptions Registry { get; init; } = new();
    public double TraceSampling { get; init; } = 1.0;
    public string TrustDomain { get; init; } = Mesh.Core.Security.SpiffeId.DefaultTrustDomain;
    public string? RootCertPath { get; init; }
    public string? RootKeyPath { get; init; }
    public TimeSpan WorkloadCertificateTtl { get; init; } = TimeSpan.FromHours(24);
    public TimeSpan PushDebounce { get; init; } = TimeSpan.FromMilliseconds(100);
    public Limits.RateLimitSettings RateLimits { get; init; } = new();
    public int DnsPort { get; init; } = 8600;
    public TimeSpan DnsTtl { get; init; } = TimeSpan.Zero;

    public static ControlPlaneOptions Parse(IReadOnlyList<string> args)
    {
        var cl = CommandLine.Parse(args, Flags);
        var registry = new RegistryOptions();
        var options = new ControlPlaneOptions
        {
            ConfigDir = cl.Required("config-dir"),
            DataDir = cl.Required("data-dir"),
            Port = cl.Port("port", 15012),
            AdminPort = cl.Port("admin-port", 15014),
            Listen = cl.String("listen", "0.0.0.0"),
            TraceSampling = cl.Ratio("trace-sampling", 1.0),
            TrustDomain = cl.String("trust-domain", Mesh.Core.Security.SpiffeId.DefaultTrustDomain),
            RootCertPath = cl.String("root-cert"),
            RootKeyPath = cl.String("root-key"),
            WorkloadCertificateTtl = cl.Duration("workload-cert-ttl", TimeSpan.FromHours(24)),
            PushDebounce = cl.Duration("push-debounce", TimeSpan.FromMilliseconds(100)),
            RateLimits = Limits.RateLimitSettings.Parse(cl),
            DnsPort = cl.Port("dns-port", 8600),
            DnsTtl = cl.Duration("dns-ttl", TimeSpan.Zero),
            Registry = new RegistryOptions
            {
                LeaseTtl = cl.Duration("lease-ttl", registry.LeaseTtl),
                HeartbeatInterval = cl.Duration("heartbeat-interval", registry.HeartbeatInterval),
                RestoreGrace = cl.Duration("restore-grace", registry.RestoreGrace),
                DisconnectGrace = cl.Duration("disconnect-grace", registry.DisconnectGrace),
                MassExpiryThreshold = cl.Ratio("mass-expiry-threshold", registry.MassExpiryThreshold),
                MassExpiryHold = cl.Duration("mass-expiry-hold", registry.MassExpiryHold),
            },
        };
        if (!Directory.Exists(options.ConfigDir))
        {
            throw new UsageException($"--config-dir expects an existing directory, got '{options.ConfigDir}'");
        }
        if (options.Registry.HeartbeatInterval >= options.Registry.LeaseTtl)
        {
            throw new UsageException($"--heartbeat-interval must be shorter than --lease-ttl ({options.Registry.LeaseTtl.TotalSeconds}s)");
        }
        if (!System.Net.IPAddress.TryParse(options.Listen, out _))
        {
            throw new UsageException($"--listen expects an IP address, got '{options.Listen}'");
        }
        if (!Mesh.Core.Routing.HostName.IsValid(options.TrustDomain) || options.TrustDomain.Contains('/'))
        {
            throw new UsageException($"--trust-domain expects a DNS name like cluster.local, got '{options.TrustDomain}'");
        }
        if ((options.RootCertPath is null) != (options.RootKeyPath is null))
        {
            throw new UsageException("--root-cert and --root-key go together");
        }
        foreach (var (flag, path) in new[] { ("root-cert", options.RootCertPath), ("root-key", options.RootKeyPath) })
        {
            if (path is not null && !File.Exists(path))
            {
                throw new UsageException($"--{flag} expects an existing PEM file, got '{path}'");
            }
        }
        if (options.PushDebounce > TimeSpan.FromSeconds(10))
        {
            throw new UsageException($"--push-debounce must be at most 10s, got {options.PushDebounce}");
        }
        if (options.WorkloadCertificateTtl < TimeSpan.FromSeconds(2) || options.WorkloadCertificateTtl > TimeSpan.FromDays(365))
        {
            throw new UsageException($"--workload-cert-ttl must be between 2s and 365d, got {options.WorkloadCertificateTtl}");
        }
        return options;
    }
}
