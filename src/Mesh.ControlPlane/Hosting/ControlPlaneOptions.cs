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
        new("ca-key-secret-file", "file", "with --store etcd: a secret every replica has (any text, 32+ characters); the root CA's key is kept in etcd encrypted with it (AES-256-GCM), so every replica issues from one root"),
        new("workload-cert-ttl", "duration", "lifetime of workload certificates; sidecars renew at half of it (default 24h)"),
        new("push-debounce", "duration", "changes within this time after the first are pushed to sidecars together (default 100ms; 0 pushes each at once)"),
        new("trace-sampling", "ratio", "share of the control plane's own API calls traced, 0..1 (default 1)"),
        new("dns-port", "port", "the registry over DNS (UDP and TCP) on --listen, as Consul's: <service>.service.consul, <service>.<namespace>.svc.cluster.local; 0 turns it off (default 8600)"),
        new("dns-ttl", "duration", "TTL of every DNS answer (default 0s, as Consul)"),
        new("store", "file|etcd", "where the registry lives: file (the data dir, one control plane) or etcd (shared by several replicas; see docs/ha.md) (default file)"),
        new("etcd-endpoints", "urls", "comma-separated etcd client URLs, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379 (with --store etcd)"),
        new("etcd-cacert", "file", "PEM CA of etcd's client TLS (not supported yet: see docs/ha.md)"),
        new("etcd-cert", "file", "client certificate for etcd (not supported yet: see docs/ha.md)"),
        new("etcd-key", "file", "key of --etcd-cert (not supported yet: see docs/ha.md)"),
        new("etcd-user", "name", "etcd user, with MESH_ETCD_PASSWORD (not supported yet: see docs/ha.md)"),
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

    /// <summary>With etcd: the file whose content encrypts the shared root CA's key there (<c>--ca-key-secret-file</c>); null keeps a root per replica.</summary>
    public string? CaKeySecretFile { get; init; }
    public TimeSpan WorkloadCertificateTtl { get; init; } = TimeSpan.FromHours(24);
    public TimeSpan PushDebounce { get; init; } = TimeSpan.FromMilliseconds(100);
    public Limits.RateLimitSettings RateLimits { get; init; } = new();
    public int DnsPort { get; init; } = 8600;
    public TimeSpan DnsTtl { get; init; } = TimeSpan.Zero;
    public RegistryStoreKind Store { get; init; } = RegistryStoreKind.File;
    public IReadOnlyList<Uri> EtcdEndpoints { get; init; } = [];

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
            CaKeySecretFile = cl.String("ca-key-secret-file"),
            WorkloadCertificateTtl = cl.Duration("workload-cert-ttl", TimeSpan.FromHours(24)),
            PushDebounce = cl.Duration("push-debounce", TimeSpan.FromMilliseconds(100)),
            RateLimits = Limits.RateLimitSettings.Parse(cl),
            DnsPort = cl.Port("dns-port", 8600),
            DnsTtl = cl.Duration("dns-ttl", TimeSpan.Zero),
            Store = ParseStore(cl.String("store", "file")),
            EtcdEndpoints = ParseEtcdEndpoints(cl.String("etcd-endpoints")),
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
        foreach (var flag in new[] { "etcd-cacert", "etcd-cert", "etcd-key", "etcd-user" })
        {
            if (cl.Has(flag))
            {
                throw new UsageException($"--{flag}: TLS and authentication to etcd are not supported yet; use http:// endpoints on a trusted network (docs/ha.md)");
            }
        }
        if (options.Store == RegistryStoreKind.Etcd && options.EtcdEndpoints.Count == 0)
        {
            throw new UsageException("--store etcd needs --etcd-endpoints, e.g. --etcd-endpoints http://127.0.0.1:2379");
        }
        if (options.Store == RegistryStoreKind.File && options.EtcdEndpoints.Count > 0)
        {
            throw new UsageException("--etcd-endpoints goes with --store etcd");
        }
        return options;
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
            if (uri.Scheme == "https")
            {
                throw new UsageException($"--etcd-endpoints: TLS to etcd is not supported yet, got '{part}'; use http:// on a trusted network (docs/ha.md)");
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
