using System.CommandLine;
using Mesh.Core.Hosting;

namespace Mesh.Sidecar.Hosting;

internal sealed record SidecarOptions
{
    // Each flag once: its help, the value it takes and its default (the initializers below, through Defaults).
    private static readonly SidecarOptions Defaults = new() { Service = "", AppPort = 0, ControlPlanes = [new Uri("https://127.0.0.1:15012")], DataDir = "", InstanceId = "" };
    private static readonly Option<string?> ServiceFlag = Flags.Text("service", "name", "the service this sidecar's app is an instance of (required; with --gateway, the gateway's name by default)");
    private static readonly Option<int> AppPortFlag = Flags.Port("app-port", "port of the local app on 127.0.0.1; without it the sidecar is an agent only: it routes outbound calls and serves the Consul and Eureka APIs, and registers no instance of its own", 0);
    private static readonly Option<string?> ControlPlaneFlag = Flags.Text("control-plane", "urls", "control plane sidecar API, e.g. https://127.0.0.1:15012; replicas comma-separated (https://10.0.0.1:15012,https://10.0.0.2:15012), and a DNS name is tried address by address: calls stay on the one that answers and move to the next when it fails", required: true);
    private static readonly Option<string?> DataDirFlag = Flags.Text("data-dir", "dir", "where the last snapshot and pinned CA are kept", required: true);
    private static readonly Option<string?> AppHealthFlag = Flags.Text("app-health", "path", "HTTP path of the app's health check; without it a TCP connect is the check");
    private static readonly Option<string> NamespaceFlag = Flags.Text("namespace", "name", "namespace of the service", Defaults.Namespace);
    private static readonly Option<IReadOnlyDictionary<string, string>> LabelFlag = Flags.KeyValues("label", "key=value", "label of this instance, e.g. version=v1");
    private static readonly Option<string?> ZoneFlag = Flags.Text("zone", "zone", "zone of this instance, for locality-aware routing");
    private static readonly Option<string?> RegionFlag = Flags.Text("region", "region", "region of this instance, for locality-aware routing");
    private static readonly Option<string?> InstanceIdFlag = Flags.Text("instance-id", "id", "stable id of this instance (default <service>-<host>-<inbound-port>)");
    private static readonly Option<string> AddressFlag = Flags.Text("address", "ip-or-host", "address other sidecars reach this one on", Defaults.Address);
    private static readonly Option<int> OutboundPortFlag = Flags.Port("outbound-port", "port the app calls, on 127.0.0.1", Defaults.OutboundPort);
    private static readonly Option<int> InboundPortFlag = Flags.Port("inbound-port", "port other sidecars call", Defaults.InboundPort);
    private static readonly Option<string> InboundListenFlag = Flags.Text("inbound-listen", "address", "address the inbound port binds to", Defaults.InboundListen);
    private static readonly Option<int> AdminPortFlag = Flags.Port("admin-port", "admin port on 127.0.0.1: /ready, /config_dump, /clusters", Defaults.AdminPort);
    private static readonly Option<int> ConsulPortFlag = Flags.Port("consul-port", "Consul-compatible agent API on 127.0.0.1, for Consul clients next to this sidecar; 0 turns it off", Defaults.ConsulPort, zeroTurnsOff: true);
    private static readonly Option<int> EurekaPortFlag = Flags.Port("eureka-port", "Eureka-compatible REST API on 127.0.0.1, for Eureka clients next to this sidecar; 0 turns it off", Defaults.EurekaPort, zeroTurnsOff: true);
    private static readonly Option<TimeSpan> HealthIntervalFlag = Flags.Duration("health-interval", "how often the app's health is checked", Defaults.HealthInterval);
    private static readonly Option<string?> CaCertFlag = Flags.Text("ca-cert", "file", "PEM root to trust for the control plane; without it the first root seen is pinned");
    private static readonly Option<string?> JoinTokenFileFlag = Flags.Text("join-token-file", "file", "join token for the first workload certificate (or MESH_JOIN_TOKEN; not needed while data-dir holds a valid certificate)");
    private static readonly Option<double> RetryBudgetRatioFlag = Flags.Ratio("retry-budget-ratio", "retries to a destination may add at most this share of its requests over 10 s", Defaults.RetryBudgetRatio);
    private static readonly Option<int> RetryBudgetMinFlag = Flags.Int("retry-budget-min", "per-second", "retries per second always allowed on top of the ratio", Defaults.RetryBudgetMinPerSecond, 0, 1_000_000);
    private static readonly Option<TimeSpan> DrainDelayFlag = Flags.Duration("drain-delay", "on SIGTERM: time between deregistering and closing the ports, so callers stop choosing this instance", Defaults.DrainDelay);
    private static readonly Option<TimeSpan> DrainTimeoutFlag = Flags.Duration("drain-timeout", "on SIGTERM: longest wait for in-flight requests after the ports close", Defaults.DrainTimeout);
    private static readonly Option<double> TraceSamplingFlag = Flags.Ratio("trace-sampling", "share of new traces recorded, 0..1 (a caller's sampling decision is kept)", Defaults.TraceSampling);
    private static readonly Option<string?> GatewayFlag = Flags.Text("gateway", "name", "run as the ingress gateway of the Gateway resource of this name in --namespace: listen on its servers' ports for callers outside the mesh and route by the VirtualServices bound to it (no --app-port)");
    private static readonly Option<string> GatewayListenFlag = Flags.Text("gateway-listen", "address", "address the gateway's ports bind to", Defaults.GatewayListen);
    private static readonly Option<int> GatewayPortOffsetFlag = Flags.Int("gateway-port-offset", "n", "listen on each Gateway port number plus n, where low ports cannot be bound", Defaults.GatewayPortOffset, -65535, 65535);
    private static readonly Option<IReadOnlyDictionary<string, string>> GatewayPortFlag = Flags.KeyValues("gateway-port", "number=port", "listen for the Gateway's port number on this port instead, e.g. 443=8443 (wins over the offset)");
    private static readonly Option<string?> CredentialsDirFlag = Flags.Text("credentials-dir", "dir", "where a Gateway tls.credentialName NAME is found: NAME/tls.crt, NAME/tls.key and, for MUTUAL, NAME/ca.crt (PEM)");

    private static readonly Option<IReadOnlyDictionary<string, string>> AppTcpPortFlag = Flags.KeyValues("app-tcp-port", "[protocol/]number=port", "a TCP service port of the app: callers connect to service port number, the bytes go to 127.0.0.1:port; protocol TCP (default), MONGO, MYSQL or REDIS");
    private static readonly Option<IReadOnlyDictionary<string, string>> TcpUpstreamFlag = Flags.KeyValues("tcp-upstream", "host:port=local-port", "listen on 127.0.0.1:local-port for the app's TCP connections to port of host (a mesh service or ServiceEntry; its VirtualService tcp rules apply)");
    private static readonly Option<IReadOnlyDictionary<string, string>> TlsUpstreamFlag = Flags.KeyValues("tls-upstream", "port=local-port", "listen on 127.0.0.1:local-port for the app's own TLS connections, routed untouched by their SNI as calls to port (VirtualService tls rules, ServiceEntry hosts)");

    private static readonly RootCommand Command = new("mesh-sidecar: routes the local app's outbound calls through the mesh and serves its inbound calls.")
    {
        ServiceFlag, AppPortFlag, ControlPlaneFlag, DataDirFlag, AppHealthFlag, NamespaceFlag, LabelFlag, ZoneFlag, RegionFlag, InstanceIdFlag,
        AddressFlag, OutboundPortFlag, InboundPortFlag, InboundListenFlag, AdminPortFlag, ConsulPortFlag, EurekaPortFlag, HealthIntervalFlag,
        CaCertFlag, JoinTokenFileFlag, RetryBudgetRatioFlag, RetryBudgetMinFlag, DrainDelayFlag, DrainTimeoutFlag, TraceSamplingFlag,
        GatewayFlag, GatewayListenFlag, GatewayPortOffsetFlag, GatewayPortFlag, CredentialsDirFlag, AppTcpPortFlag, TcpUpstreamFlag, TlsUpstreamFlag,
    };

    /// <summary>The generated help (<c>mesh-sidecar --help</c>).</summary>
    public static string Help() => Flags.Help(Command);

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

    public IReadOnlyList<Tcp.AppTcpPort> AppTcpPorts { get; init; } = [];
    public IReadOnlyList<Tcp.TcpUpstream> TcpUpstreams { get; init; } = [];
    public IReadOnlyList<Tcp.TlsUpstream> TlsUpstreams { get; init; } = [];

    /// <summary>The port the gateway listens on for its Gateway's <paramref name="number"/>.</summary>
    public int GatewayListenPort(int number) => GatewayPorts.TryGetValue(number, out var mapped) ? mapped : number + GatewayPortOffset;

    /// <summary>The name this sidecar reports to the control plane in watch calls.</summary>
    public string NodeId => $"{InstanceId}.{Namespace}";

    public static SidecarOptions Parse(IReadOnlyList<string> args)
    {
        var p = Flags.Parse(Command, args);
        var gateway = p.GetValue(GatewayFlag);
        if (gateway is not null && p.Given(AppPortFlag))
        {
            throw new UsageException("--gateway and --app-port do not go together: a gateway has no app of its own");
        }
        var service = p.GetValue(ServiceFlag) ?? gateway ?? throw new UsageException("--service is required");
        var ns = p.GetValue(NamespaceFlag)!;
        foreach (var (flag, value) in new[] { ("service", service), ("namespace", ns), ("gateway", gateway ?? "gateway") })
        {
            if (!Mesh.Core.Routing.HostName.IsValid(value) || value.Contains('.'))
            {
                throw new UsageException($"--{flag} expects a DNS label (letters, digits, '-'), got '{value}'");
            }
        }
        var inbound = p.GetValue(InboundPortFlag);
        var options = new SidecarOptions
        {
            Service = service,
            Namespace = ns,
            AppPort = p.GetValue(AppPortFlag),
            ControlPlanes = Mesh.Core.Failover.ServerList.Parse("control-plane", p.GetValue(ControlPlaneFlag)!, "https", "http"),
            DataDir = p.GetValue(DataDirFlag)!,
            AppHealthPath = p.GetValue(AppHealthFlag) is { } path ? (path.StartsWith('/') ? path : throw new UsageException($"--app-health expects a path starting with '/', got '{path}'")) : null,
            Labels = p.GetValue(LabelFlag)!,
            Zone = p.GetValue(ZoneFlag),
            Region = p.GetValue(RegionFlag),
            InstanceId = p.GetValue(InstanceIdFlag) ?? $"{service}-{Environment.MachineName.ToLowerInvariant()}-{inbound}",
            Address = p.GetValue(AddressFlag)!,
            OutboundPort = p.GetValue(OutboundPortFlag),
            InboundPort = inbound,
            InboundListen = p.GetValue(InboundListenFlag)!,
            AdminPort = p.GetValue(AdminPortFlag),
            ConsulPort = p.GetValue(ConsulPortFlag),
            EurekaPort = p.GetValue(EurekaPortFlag),
            HealthInterval = p.GetValue(HealthIntervalFlag),
            CaCertPath = p.GetValue(CaCertFlag),
            JoinTokenFile = p.GetValue(JoinTokenFileFlag),
            TraceSampling = p.GetValue(TraceSamplingFlag),
            RetryBudgetRatio = p.GetValue(RetryBudgetRatioFlag),
            RetryBudgetMinPerSecond = p.GetValue(RetryBudgetMinFlag),
            DrainDelay = p.GetValue(DrainDelayFlag),
            DrainTimeout = p.GetValue(DrainTimeoutFlag),
            Gateway = gateway,
            GatewayListen = p.GetValue(GatewayListenFlag)!,
            GatewayPortOffset = p.GetValue(GatewayPortOffsetFlag),
            GatewayPorts = GatewayPortMap(p.GetValue(GatewayPortFlag)!),
            CredentialsDir = p.GetValue(CredentialsDirFlag),
            AppTcpPorts = Tcp.TcpFlags.AppPorts(p.GetValue(AppTcpPortFlag)!),
            TcpUpstreams = Tcp.TcpFlags.Upstreams(p.GetValue(TcpUpstreamFlag)!),
            TlsUpstreams = Tcp.TcpFlags.TlsUpstreams(p.GetValue(TlsUpstreamFlag)!),
        };
        if (options.AppTcpPorts.Count > 0 && options.AppPort == 0)
        {
            throw new UsageException("--app-tcp-port needs --app-port: the instance is registered with its HTTP port and health check");
        }
        if (gateway is null && (p.Given(GatewayListenFlag) || p.Given(GatewayPortOffsetFlag) || p.Given(GatewayPortFlag) || p.Given(CredentialsDirFlag)))
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
        (string, int)[] ports = [("outbound-port", options.OutboundPort), ("inbound-port", options.InboundPort), ("admin-port", options.AdminPort), ("app-port", options.AppPort),
            ("consul-port", options.ConsulPort), ("eureka-port", options.EurekaPort),
            .. options.TcpUpstreams.Select(u => ("tcp-upstream", u.LocalPort)), .. options.TlsUpstreams.Select(u => ("tls-upstream", u.LocalPort))];
        foreach (var group in ports.Where(p => p.Item2 != 0).GroupBy(p => p.Item2).Where(g => g.Count() > 1))
        {
            throw new UsageException($"--{group.First().Item1} and --{group.Last().Item1} are both {group.Key}; each needs its own port");
        }
        return options;
    }

    private static Dictionary<int, int> GatewayPortMap(IReadOnlyDictionary<string, string> given)
    {
        var map = new Dictionary<int, int>();
        foreach (var (number, port) in given)
        {
            if (!int.TryParse(number, out var n) || n is < 1 or > 65535 || !int.TryParse(port, out var p) || p is < 1 or > 65535)
            {
                throw new UsageException($"--gateway-port expects number=port with both 1-65535, e.g. 443=8443, got '{number}={port}'");
            }
            map[n] = p;
        }
        return map;
    }
}
