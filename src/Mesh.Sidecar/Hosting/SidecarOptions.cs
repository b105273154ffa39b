using Mesh.Core.Hosting;

namespace Mesh.Sidecar.Hosting;

internal sealed record SidecarOptions
{
    public static readonly FlagSpec[] Flags =
    [
        new("service", "name", "the service this sidecar's app is an instance of (required; with --gateway, the gateway's name by default)"),
        new("app-port", "port", "port of the local app on 127.0.0.1; without it the sidecar is an agent only: it routes outbound calls and serves the Consul and Eureka APIs, and registers no instance of its own"),
        new("control-plane", "urls", "control plane sidecar API, e.g. https://127.0.0.1:15012 (required); replicas comma-separated (https://10.0.0.1:15012,https://10.0.0.2:15012), and a DNS name is tried address by address: calls stay on the one that answers and move to the next when it fails"),
        new("data-dir", "dir", "where the last snapshot and pinned CA are kept (required)"),
        new("app-health", "path", "HTTP path of the app's health check; without it a TCP connect is the check"),
        new("namespace", "name", "namespace of the service (default 'default')"),
        new("label", "key=value", "label of this instance, e.g. version=v1 (repeatable)", Repeatable: true),
        new("zone", "zone", "zone of this instance, for locality-aware routing"),
        new("region", "region", "region of this instance, for locality-aware routing"),
        new("instance-id", "id", "stable id of this instance (default <service>-<host>-<inbound-port>)"),
        new("address", "ip-or-host", "address other sidecars reach this one on (default 127.0.0.1)"),
        new("outbound-port", "port", "port the app calls, on 127.0.0.1 (default 15001)"),
        new("inbound-port", "port", "port other sidecars call (default 15006)"),
        new("inbound-listen", "address", "address the inbound port binds to (default 0.0.0.0)"),
        new("admin-port", "port", "admin port on 127.0.0.1: /ready, /config_dump, /clusters (default 15000)"),
        new("consul-port", "port", "Consul-compatible agent API on 127.0.0.1, for Consul clients next to this sidecar (default 8500; 0 turns it off)"),
        new("eureka-port", "port", "Eureka-compatible REST API on 127.0.0.1, for Eureka clients next to this sidecar (default 8761; 0 turns it off)"),
        new("health-interval", "duration", "how often the app's health is checked (default 1s)"),
        new("ca-cert", "file", "PEM root to trust for the control plane; without it the first root seen is pinned"),
        new("join-token-file", "file", "join token for the first workload certificate (or MESH_JOIN_TOKEN; not needed while data-dir holds a valid certificate)"),
        new("retry-budget-ratio", "ratio", "retries to a destination may add at most this share of its requests over 10 s (default 0.2)"),
        new("retry-budget-min", "per-second", "retries per second always allowed on top of the ratio (default 10)"),
        new("drain-delay", "duration", "on SIGTERM: time between deregistering and closing the ports, so callers stop choosing this instance (default 2s)"),
        new("drain-timeout", "duration", "on SIGTERM: longest wait for in-flight requests after the ports close (default 30s)"),
        new("trace-sampling", "ratio", "share of new traces recorded, 0..1 (default 0.01; a caller's sampling decision is kept)"),
        new("gateway", "name", "run as the ingress gateway of the Gateway resource of this name in --namespace: listen on its servers' ports for callers outside the mesh and route by the VirtualServices bound to it (no --app-port)"),
        new("gateway-listen", "address", "address the gateway's ports bind to (default 0.0.0.0)"),
        new("gateway-port-offset", "n", "listen on each Gateway port number plus n, where low ports cannot be bound (default 0)"),
        new("gateway-port", "number=port", "listen for the Gateway's port number on this port instead, e.g. 443=8443 (repeatable; wins over the offset)", Repeatable: true),
        new("credentials-dir", "dir", "where a Gateway tls.credentialName NAME is found: NAME/tls.crt, NAME/tls.key and, for MUTUAL, NAME/ca.crt (PEM)"),
        new("help", null, "print this help"),
    ];

    public required string Service { get; init; }
    public required int AppPort { get; init; }
    /// <summary>The control plane's replicas (<c>--control-plane</c>), in the order they are tried.</summary>
    public required IReadOnlyList<Uri> ControlPlanes { get; init; }

    /// <summary>The first of <see cref="ControlPlanes"/>.</summary>
    public Uri ControlPlane => ControlPlanes[0];
    public required string DataDir { get; init; }
    public string? AppHealthPath { get; init; }
    public string Namespace { get; init; } = "default";
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? Zone { get; init; }
    public string? Region { get; init; }
    public required string InstanceId { get; init; }
    public string Address { get; init; } = "127.0.0.1";
    public int OutboundPort { get; init; } = 15001;
    public int InboundPort { get; init; } = 15006;
    public string InboundListen { get; init; } = "0.0.0.0";
    public int AdminPort { get; init; } = 15000;
    public int ConsulPort { get; init; } = 8500;
    public int EurekaPort { get; init; } = 8761;
    public TimeSpan HealthInterval { get; init; } = TimeSpan.FromSeconds(1);
    public string? CaCertPath { get; init; }
    public string? JoinTokenFile { get; init; }
    public double TraceSampling { get; init; } = 0.01;
    public double RetryBudgetRatio { get; init; } = 0.2;
    public int RetryBudgetMinPerSecond { get; init; } = 10;
    public TimeSpan DrainDelay { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The Gateway resource (in <see cref="Namespace"/>) this sidecar serves as an ingress gateway; null for an ordinary sidecar.</summary>
    public string? Gateway { get; init; }
    public string GatewayListen { get; init; } = "0.0.0.0";
    public int GatewayPortOffset { get; init; }
    public IReadOnlyDictionary<int, int> GatewayPorts { get; init; } = new Dictionary<int, int>();
    public string? CredentialsDir { get; init; }

    /// <summary>The port the gateway listens on for its Gateway's <paramref name="number"/>.</summary>
    public int GatewayListenPort(int number) => GatewayPorts.TryGetValue(number, out var mapped) ? mapped : number + GatewayPortOffset;

    /// <summary>The name this sidecar reports to the control plane in watch calls.</summary>
    public string NodeId => $"{InstanceId}.{Namespace}";

    public static SidecarOptions Parse(IReadOnlyList<string> args)
    {
        var cl = CommandLine.Parse(args, Flags);
        var gateway = cl.String("gateway");
        if (gateway is not null && cl.Has("app-port"))
        {
            throw new UsageException("--gateway and --app-port do not go together: a gateway has no app of its own");
        }
        var service = gateway is null ? cl.Required("service") : cl.String("service", gateway);
        var ns = cl.String("namespace", "default");
        foreach (var (flag, value) in new[] { ("service", service), ("namespace", ns), ("gateway", gateway ?? "gateway") })
        {
            if (!Mesh.Core.Routing.HostName.IsValid(value) || value.Contains('.'))
            {
                throw new UsageException($"--{flag} expects a DNS label (letters, digits, '-'), got '{value}'");
            }
        }
        var appPort = cl.Has("app-port") ? NonZeroPort(cl, "app-port", -1) : 0;
        var inbound = NonZeroPort(cl, "inbound-port", 15006);
        var options = new SidecarOptions
        {
            Service = service,
            Namespace = ns,
            AppPort = appPort,
            ControlPlanes = Mesh.Core.Failover.ServerList.Parse("control-plane", cl.Required("control-plane"), "https", "http"),
            DataDir = cl.Required("data-dir"),
            AppHealthPath = cl.String("app-health") is { } path ? (path.StartsWith('/') ? path : throw new UsageException($"--app-health expects a path starting with '/', got '{path}'")) : null,
            Labels = cl.KeyValues("label"),
            Zone = cl.String("zone"),
            Region = cl.String("region"),
            InstanceId = cl.String("instance-id", $"{service}-{Environment.MachineName.ToLowerInvariant()}-{inbound}"),
            Address = cl.String("address", "127.0.0.1"),
            OutboundPort = NonZeroPort(cl, "outbound-port", 15001),
            InboundPort = inbound,
            InboundListen = cl.String("inbound-listen", "0.0.0.0"),
            AdminPort = NonZeroPort(cl, "admin-port", 15000),
            ConsulPort = cl.Port("consul-port", 8500),
            EurekaPort = cl.Port("eureka-port", 8761),
            HealthInterval = cl.Duration("health-interval", TimeSpan.FromSeconds(1)),
            CaCertPath = cl.String("ca-cert"),
            JoinTokenFile = cl.String("join-token-file"),
            TraceSampling = cl.Ratio("trace-sampling", 0.01),
            RetryBudgetRatio = cl.Ratio("retry-budget-ratio", 0.2),
            RetryBudgetMinPerSecond = cl.Int("retry-budget-min", 10, 0, 1_000_000),
            DrainDelay = cl.Duration("drain-delay", TimeSpan.FromSeconds(2)),
            DrainTimeout = cl.Duration("drain-timeout", TimeSpan.FromSeconds(30)),
            Gateway = gateway,
            GatewayListen = cl.String("gateway-listen", "0.0.0.0"),
            GatewayPortOffset = cl.Int("gateway-port-offset", 0, -65535, 65535),
            GatewayPorts = GatewayPortMap(cl),
            CredentialsDir = cl.String("credentials-dir"),
        };
        if (gateway is null && (cl.Has("gateway-listen") || cl.Has("gateway-port-offset") || cl.Has("gateway-port") || cl.Has("credentials-dir")))
        {
            throw new UsageException("--gateway-listen, --gateway-port-offset, --gateway-port and --credentials-dir need --gateway");
        }
        if (!System.Net.IPAddress.TryParse(options.GatewayListen, out _))
        {
            throw new UsageException($"--gateway-listen expects an IP address, got '{options.GatewayListen}'");
        }
        if (options.CaCertPath is { } ca && !File.Exists(ca))
        {
            throw new UsageException($"--ca-cert expects an existing PEM file, got '{ca}'");
        }
        if (!System.Net.IPAddress.TryParse(options.InboundListen, out _))
        {
            throw new UsageException($"--inbound-listen expects an IP address, got '{options.InboundListen}'");
        }
        var ports = new[] { ("outbound-port", options.OutboundPort), ("inbound-port", options.InboundPort), ("admin-port", options.AdminPort), ("app-port", options.AppPort),
            ("consul-port", options.ConsulPort), ("eureka-port", options.EurekaPort) };
        foreach (var group in ports.Where(p => p.Item2 != 0).GroupBy(p => p.Item2).Where(g => g.Count() > 1))
        {
            throw new UsageException($"--{group.First().Item1} and --{group.Last().Item1} are both {group.Key}; each needs its own port");
        }
        return options;
    }

    private static Dictionary<int, int> GatewayPortMap(CommandLine cl)
    {
        var map = new Dictionary<int, int>();
        foreach (var (number, port) in cl.KeyValues("gateway-port"))
        {
            if (!int.TryParse(number, out var n) || n is < 1 or > 65535 || !int.TryParse(port, out var p) || p is < 1 or > 65535)
            {
                throw new UsageException($"--gateway-port expects number=port with both 1-65535, e.g. 443=8443, got '{number}={port}'");
            }
            map[n] = p;
        }
        return map;
    }

    private static int NonZeroPort(CommandLine cl, string name, int fallback)
    {
        if (fallback < 0 && !cl.Has(name))
        {
            throw new UsageException($"--{name} is required");
        }
        var port = cl.Port(name, fallback);
        return port > 0 ? port : throw new UsageException($"--{name} expects a port number 1-65535, got '0'");
    }
}
