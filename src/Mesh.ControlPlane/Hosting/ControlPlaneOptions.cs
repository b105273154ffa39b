using System.CommandLine;
using Mesh.Core.Hosting;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Hosting;

internal sealed record ControlPlaneOptions
{
    // Each flag once: its help, the value it takes and its default (the initializers below, through Defaults).
    private static readonly ControlPlaneOptions Defaults = new() { ConfigDir = "", DataDir = "" };
    private static readonly Option<string?> ConfigDirFlag = Flags.Text("config-dir", "dir", "directory of Istio YAML to serve, watched for edits", required: true);
    private static readonly Option<string?> DataDirFlag = Flags.Text("data-dir", "dir", "where the CA, registry state and versions are kept", required: true);
    private static readonly Option<int> PortFlag = Flags.Port("port", "sidecar API port, TLS", Defaults.Port, zeroTurnsOff: true);
    private static readonly Option<int> AdminPortFlag = Flags.Port("admin-port", "admin API port", Defaults.AdminPort, zeroTurnsOff: true);
    private static readonly Option<string> ListenFlag = Flags.Text("listen", "address", "address the sidecar API binds to", Defaults.Listen);
    private static readonly Option<TimeSpan> LeaseTtlFlag = Flags.Duration("lease-ttl", "an instance whose lease is not renewed this long is removed", Defaults.Registry.LeaseTtl);
    private static readonly Option<TimeSpan> HeartbeatIntervalFlag = Flags.Duration("heartbeat-interval", "how often sidecars renew leases", Defaults.Registry.HeartbeatInterval);
    private static readonly Option<TimeSpan> RestoreGraceFlag = Flags.Duration("restore-grace", "extra lease time for instances restored after a restart, while their sidecars reconnect", Defaults.Registry.RestoreGrace);
    private static readonly Option<TimeSpan> DisconnectGraceFlag = Flags.Duration("disconnect-grace", "a sidecar whose watch connection closes abnormally and does not return within this time has its instance marked unhealthy; 0 turns it off", Defaults.Registry.DisconnectGrace, zeroAllowed: true);
    private static readonly Option<double> MassExpiryThresholdFlag = Flags.Ratio("mass-expiry-threshold", "hold lapsed leases when more than this fraction of all instances (and at least 10) lapse or are late (no heartbeat for two intervals) within one lease TTL; 1 turns it off", Defaults.Registry.MassExpiryThreshold);
    private static readonly Option<TimeSpan> MassExpiryHoldFlag = Flags.Duration("mass-expiry-hold", "how long such leases are held before they expire anyway", Defaults.Registry.MassExpiryHold);
    private static readonly Option<string> TrustDomainFlag = Flags.Text("trust-domain", "name", "trust domain of workload identities, spiffe://<trust-domain>/ns/<ns>/sa/<service>", Defaults.TrustDomain);
    private static readonly Option<string?> RootCertFlag = Flags.Text("root-cert", "file", "PEM root CA to use on first start instead of making one (with --root-key; see certs/)");
    private static readonly Option<string?> RootKeyFlag = Flags.Text("root-key", "file", "PEM private key of --root-cert");
    private static readonly Option<string?> CaKeySecretFileFlag = Flags.Text("ca-key-secret-file", "file", "with --store etcd: a secret every replica has (any text, 32+ characters); the root CA's key is kept in etcd encrypted with it (AES-256-GCM), so every replica issues from one root");
    private static readonly Option<TimeSpan> WorkloadCertTtlFlag = Flags.Duration("workload-cert-ttl", "lifetime of workload certificates; sidecars renew at half of it", Defaults.WorkloadCertificateTtl);
    private static readonly Option<TimeSpan> PushDebounceFlag = Flags.Duration("push-debounce", "changes within this time after the first are pushed to sidecars together; 0 pushes each at once", Defaults.PushDebounce, zeroAllowed: true);
    private static readonly Option<double> TraceSamplingFlag = Flags.Ratio("trace-sampling", "share of the control plane's own API calls traced, 0..1", Defaults.TraceSampling);
    private static readonly Option<int> DnsPortFlag = Flags.Port("dns-port", "the registry over DNS (UDP and TCP) on --listen, as Consul's: <service>.service.consul, <service>.<namespace>.svc.cluster.local; 0 turns it off", Defaults.DnsPort, zeroTurnsOff: true);
    private static readonly Option<TimeSpan> DnsTtlFlag = Flags.Duration("dns-ttl", "TTL of every DNS answer (0s, as Consul's default)", Defaults.DnsTtl, zeroAllowed: true);
    private static readonly Option<int> ConfigHistoryFlag = Flags.Int("config-history", "count", "how many accepted config versions are kept for history, diff and rollback", Defaults.ConfigHistory, 1, 100_000);
    private static readonly Option<string> StoreFlag = Flags.Text("store", "file|etcd", "where the registry lives: file (the data dir, one control plane) or etcd (shared by several replicas; see docs/ha.md)", "file");
    private static readonly Option<string?> EtcdEndpointsFlag = Flags.Text("etcd-endpoints", "urls", "comma-separated etcd client URLs, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379, or https:// with --etcd-cacert (with --store etcd)");
    private static readonly Option<string?> RegionFlag = Flags.Text("region", "name", "this control plane's region: the locality peered regions give the instances they import from it (default: the name they know the peering under)");
    private static readonly Option<string?> PeeringAddressFlag = Flags.Text("peering-address", "urls", "comma-separated URLs of this sidecar API as peered control planes reach it, put in peering tokens and in the API's certificate (default https://<--listen, or 127.0.0.1>:<--port>)");
    private static readonly Option<TimeSpan> PeerSyncIntervalFlag = Flags.Duration("peer-sync-interval", "how often the instances exported by each peered region are fetched", Defaults.PeerSyncInterval);

    private static readonly RootCommand Command = Build();

    private static RootCommand Build()
    {
        var command = new RootCommand("mesh-control-plane: serves the registry, routing config and snapshots to sidecars.")
        {
            ConfigDirFlag, DataDirFlag, PortFlag, AdminPortFlag, ListenFlag, LeaseTtlFlag, HeartbeatIntervalFlag, RestoreGraceFlag, DisconnectGraceFlag,
            MassExpiryThresholdFlag, MassExpiryHoldFlag, TrustDomainFlag, RootCertFlag, RootKeyFlag, CaKeySecretFileFlag, WorkloadCertTtlFlag, PushDebounceFlag,
            TraceSamplingFlag, DnsPortFlag, DnsTtlFlag, ConfigHistoryFlag, StoreFlag, EtcdEndpointsFlag,
            RegionFlag, PeeringAddressFlag, PeerSyncIntervalFlag,
        };
        foreach (var flag in EtcdClientSecurity.All.Concat(Limits.RateLimitSettings.All))
        {
            command.Add(flag);
        }
        return command;
    }

    /// <summary>The generated help (<c>mesh-control-plane --help</c>).</summary>
    public static string Help() => Flags.Help(Command);

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

    /// <summary>With etcd: the file whose content encrypts the shared root CA's key there (<c>--ca-key-secret-file</c>); null keeps a root per replica.</summary>
    public string? CaKeySecretFile { get; init; }
    public TimeSpan WorkloadCertificateTtl { get; init; } = TimeSpan.FromHours(24);
    public TimeSpan PushDebounce { get; init; } = TimeSpan.FromMilliseconds(100);
    public Limits.RateLimitSettings RateLimits { get; init; } = new();
    public int DnsPort { get; init; } = 8600;
    public TimeSpan DnsTtl { get; init; } = TimeSpan.Zero;
    public int ConfigHistory { get; init; } = 100;
    public RegistryStoreKind Store { get; init; } = RegistryStoreKind.File;
    public IReadOnlyList<Uri> EtcdEndpoints { get; init; } = [];

    /// <summary>This region's name, given to peers (<c>--region</c>); null: peers use their name for the peering.</summary>
    public string? Region { get; init; }

    /// <summary>Where peered control planes reach this sidecar API (<c>--peering-address</c>); empty: from --listen and --port.</summary>
    public IReadOnlyList<Uri> PeeringAddresses { get; init; } = [];

    public TimeSpan PeerSyncInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The addresses a peering token carries: the given ones, or this API's own.</summary>
    public IReadOnlyList<Uri> AdvertisedPeeringAddresses => PeeringAddresses.Count > 0
        ? PeeringAddresses
        : [new Uri($"https://{(Listen is "0.0.0.0" or "::" ? "127.0.0.1" : Listen.Contains(':') ? $"[{Listen}]" : Listen)}:{Port}")];

    /// <summary>TLS and the etcd user to etcd (<c>--etcd-cacert</c>, <c>--etcd-cert</c>, <c>--etcd-key</c>, <c>--etcd-user</c>, <c>--etcd-password-file</c>).</summary>
    public EtcdClientSecurity EtcdSecurity { get; init; } = EtcdClientSecurity.None;

    public static ControlPlaneOptions Parse(IReadOnlyList<string> args)
    {
        var p = Flags.Parse(Command, args);
        var options = new ControlPlaneOptions
        {
            ConfigDir = p.GetValue(ConfigDirFlag)!,
            DataDir = p.GetValue(DataDirFlag)!,
            Port = p.GetValue(PortFlag),
            AdminPort = p.GetValue(AdminPortFlag),
            Listen = p.GetValue(ListenFlag)!,
            TraceSampling = p.GetValue(TraceSamplingFlag),
            TrustDomain = p.GetValue(TrustDomainFlag)!,
            RootCertPath = p.GetValue(RootCertFlag),
            RootKeyPath = p.GetValue(RootKeyFlag),
            CaKeySecretFile = p.GetValue(CaKeySecretFileFlag),
            WorkloadCertificateTtl = p.GetValue(WorkloadCertTtlFlag),
            PushDebounce = p.GetValue(PushDebounceFlag),
            RateLimits = Limits.RateLimitSettings.Parse(p),
            DnsPort = p.GetValue(DnsPortFlag),
            DnsTtl = p.GetValue(DnsTtlFlag),
            ConfigHistory = p.GetValue(ConfigHistoryFlag),
            Store = ParseStore(p.GetValue(StoreFlag)!),
            EtcdEndpoints = ParseEtcdEndpoints(p.GetValue(EtcdEndpointsFlag)),
            Region = p.GetValue(RegionFlag),
            PeeringAddresses = ParsePeeringAddresses(p.GetValue(PeeringAddressFlag)),
            PeerSyncInterval = p.GetValue(PeerSyncIntervalFlag),
            Registry = new RegistryOptions
            {
                LeaseTtl = p.GetValue(LeaseTtlFlag),
                HeartbeatInterval = p.GetValue(HeartbeatIntervalFlag),
                RestoreGrace = p.GetValue(RestoreGraceFlag),
                DisconnectGrace = p.GetValue(DisconnectGraceFlag),
                MassExpiryThreshold = p.GetValue(MassExpiryThresholdFlag),
                MassExpiryHold = p.GetValue(MassExpiryHoldFlag),
            },
        };
        if (!Directory.Exists(options.ConfigDir))
        {
            var full = Path.GetFullPath(options.ConfigDir);
            // A relative path is read from the working directory, which `dotnet run --project` sets to the project's.
            throw new UsageException($"--config-dir expects an existing directory, got '{options.ConfigDir}'"
                + (full != options.ConfigDir ? $" (from {Environment.CurrentDirectory}: {full})" : ""));
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
        if (options.CaKeySecretFile is { } secret)
        {
            if (options.Store != RegistryStoreKind.Etcd)
            {
                throw new UsageException("--ca-key-secret-file goes with --store etcd (the file store keeps its root in the data dir)");
            }
            if (!File.Exists(secret) || File.ReadAllText(secret).Trim().Length < 32)
            {
                throw new UsageException($"--ca-key-secret-file expects an existing file holding at least 32 characters of secret (e.g. openssl rand -hex 32 > FILE), got '{secret}'");
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
        if (options.Store == RegistryStoreKind.Etcd && options.EtcdEndpoints.Count == 0)
        {
            throw new UsageException("--store etcd needs --etcd-endpoints, e.g. --etcd-endpoints http://127.0.0.1:2379");
        }
        if (options.Store == RegistryStoreKind.File && options.EtcdEndpoints.Count > 0)
        {
            throw new UsageException("--etcd-endpoints goes with --store etcd");
        }
        if (options.Region is { } region && !Mesh.Core.Peering.PeerName.IsValid(region))
        {
            throw new UsageException($"--region expects a DNS label like eu-west-1, got '{region}'");
        }
        return options with { EtcdSecurity = EtcdClientSecurity.Parse(p, options.Store == RegistryStoreKind.Etcd, options.EtcdEndpoints) };
    }

    private static Uri[] ParsePeeringAddresses(string? value)
    {
        if (value is null)
        {
            return [];
        }
        var addresses = new List<Uri>();
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || uri.Scheme != "https" || uri.AbsolutePath != "/")
            {
                throw new UsageException($"--peering-address expects comma-separated https URLs like https://10.0.0.1:15012, got '{part}'");
            }
            addresses.Add(uri);
        }
        return addresses.Count > 0 ? [.. addresses] : throw new UsageException("--peering-address expects at least one URL");
    }

    private static RegistryStoreKind ParseStore(string value) => value switch
    {
        "file" => RegistryStoreKind.File,
        "etcd" => RegistryStoreKind.Etcd,
        _ => throw new UsageException($"--store expects file or etcd, got '{value}'"),
    };

    private static Uri[] ParseEtcdEndpoints(string? value)
    {
        if (value is null)
        {
            return [];
        }
        var endpoints = new List<Uri>();
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
            {
                throw new UsageException($"--etcd-endpoints expects comma-separated URLs like http://127.0.0.1:2379, got '{part}'");
            }
            endpoints.Add(uri);
        }
        if (endpoints.Count == 0)
        {
            throw new UsageException("--etcd-endpoints expects at least one URL");
        }
        return [.. endpoints];
    }
}

/// <summary>Where the registry lives (<c>--store</c>).</summary>
internal enum RegistryStoreKind
{
    File,
    Etcd,
}
