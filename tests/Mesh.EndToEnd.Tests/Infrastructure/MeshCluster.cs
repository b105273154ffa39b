using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A mesh on loopback made of real processes: a control plane, apps and their sidecars, in a temp
/// directory removed afterwards. Leases are short so expiry can be observed in seconds. On dispose
/// every process is killed; when a test fails, <see cref="Logs"/> tells what each process said.
/// </summary>
internal sealed class MeshCluster : IAsyncDisposable
{
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly List<MeshProcess> _processes = [];
    private readonly HttpClient _http;

    /// <param name="region">A region of a <see cref="RegionNetwork"/>: every process runs in its network namespace, the
    /// test's calls are made from inside it, and the control plane and inbound ports listen on the region's address
    /// for other regions (the control plane with <c>--region</c> and <c>--peering-address</c>, sidecars with
    /// <c>--region</c> and <c>--address</c>). Null: everything on this host's loopback.</param>
    public MeshCluster(Region? region = null)
    {
        Region = region;
        _http = new(NetnsSockets.Handler(region?.Netns)) { Timeout = TimeSpan.FromSeconds(15) };
    }

    public Region? Region { get; }

    public string Root { get; } = Directory.CreateTempSubdirectory("mesh-e2e-").FullName;
    public ControlPlane? ControlPlane { get; private set; }
    public List<Sidecar> Sidecars { get; } = [];
    public HttpClient Http => _http;

    public string ConfigDir => Path.Combine(Root, "config");

    /// <summary>Whether sidecars are started with the cluster's join token (a test of a sidecar without one turns it off).</summary>
    public bool UseJoinToken { get; set; } = true;

    /// <summary>
    /// The <c>--control-plane</c> list sidecars get (replicas, comma-separated) instead of the one control
    /// plane they are started on; that one still makes their join token.
    /// </summary>
    public string? SidecarControlPlanes { get; set; }

    /// <summary>Extra flags for the control plane (e.g. a short --workload-cert-ttl), kept across restarts.</summary>
    public List<string> ControlPlaneArgs { get; } = [];

    /// <summary>A native sidecar binary to start instead of the built Mesh.Sidecar.dll (see NativeSidecarTests).</summary>
    public string? SidecarBinary { get; set; }

    /// <summary>Environment variables for every control plane and sidecar this cluster starts (e.g. OTLP export).</summary>
    public Dictionary<string, string> Environment { get; } = [];

    /// <summary>Every process started from now on exports its spans to <paramref name="receiver"/> over HTTP/protobuf, in batches every 200 ms.</summary>
    public void ExportTracesTo(OtlpReceiver receiver)
    {
        Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint;
        Environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        Environment["OTEL_BSP_SCHEDULE_DELAY"] = "200";
    }

    public string Logs => string.Join("\n\n", _processes.Select(p => $"== {p.Name} ==\n{p.Output}"));

    public async Task<ControlPlane> StartControlPlaneAsync(int? port = null, int? adminPort = null)
    {
        ControlPlane = await LaunchControlPlaneAsync("control-plane", Path.Combine(Root, "cp"), port, adminPort).ConfigureAwait(false);
        // The admin API takes the token the control plane made in its data dir; sidecars join with a token made through it.
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        if (!File.Exists(JoinTokenFile))
        {
            File.WriteAllText(JoinTokenFile, await CreateJoinTokenAsync().ConfigureAwait(false));
        }
        return ControlPlane;
    }

    /// <summary>Control planes started besides <see cref="ControlPlane"/> (replicas on a shared store).</summary>
    public List<ControlPlane> Replicas { get; } = [];

    /// <summary>
    /// Starts another control plane with its own ports and data dir and the same config dir and
    /// <see cref="ControlPlaneArgs"/> (replicas on one etcd, say), and a join token file of its own for
    /// sidecars started on it (<see cref="StartServiceOnAsync"/>). <see cref="ControlPlane"/> and the admin
    /// calls of this cluster stay on the first control plane.
    /// </summary>
    public async Task<ControlPlane> StartReplicaAsync()
    {
        var name = $"control-plane-{Replicas.Count + 2}";
        var replica = await LaunchControlPlaneAsync(name, Path.Combine(Root, name), null, null).ConfigureAwait(false);
        Replicas.Add(replica);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(replica.Admin, "/v1/join-tokens")) { Content = JsonContent.Create(new { service = (string?)null }) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminTokenOf(replica));
        using var response = await _http.SendAsync(request).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        Assert.True(response.IsSuccessStatusCode, $"creating a join token on {name}: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        File.WriteAllText(JoinTokenFileOf(replica), doc.RootElement.GetProperty("token").GetString()!);
        return replica;
    }

    private async Task<ControlPlane> LaunchControlPlaneAsync(string name, string dataDir, int? port, int? adminPort)
    {
        Directory.CreateDirectory(ConfigDir);
        var cp = new ControlPlane(port ?? FreePorts.Next(), adminPort ?? FreePorts.Next(), ConfigDir, dataDir, null!);
        var process = Track(MeshProcess.StartDll(name, RepoPaths.ControlPlaneDll,
        [
            "--config-dir", cp.ConfigDir, "--data-dir", cp.DataDir, "--port", cp.Port.ToString(), "--admin-port", cp.AdminPort.ToString(),
            .. Region is null ? new[] { "--listen", "127.0.0.1" }
                : ["--listen", "0.0.0.0", "--peering-address", $"https://{Region.Address}:{cp.Port}", .. ControlPlaneArgs.Contains("--region") ? Array.Empty<string>() : ["--region", Region.Name]],
            "--lease-ttl", $"{LeaseTtl.TotalMilliseconds}ms", "--heartbeat-interval", $"{HeartbeatInterval.TotalMilliseconds}ms",
            // DNS is off unless a test asks for it: every control plane of a parallel run would want 8600.
            .. ControlPlaneArgs.Contains("--dns-port") ? Array.Empty<string>() : new[] { "--dns-port", "0" },
            .. ControlPlaneArgs,
        ], Environment, Region?.Netns));
        cp = cp with { Process = process };
        await Eventually.TrueAsync(async () => (await _http.GetAsync(new Uri(cp.Admin, "/ready")).ConfigureAwait(false)).IsSuccessStatusCode,
            StartTimeout, () => $"{name} did not become ready\n" + process.Output).ConfigureAwait(false);
        return cp;
    }

    /// <summary>Starts a stopped (or killed) control plane or replica again on its ports and data dir.</summary>
    public async Task<ControlPlane> RestartAsync(ControlPlane cp)
    {
        cp.Process.Kill();
        if (cp == ControlPlane)
        {
            return ControlPlane = await LaunchControlPlaneAsync("control-plane (restarted)", cp.DataDir, cp.Port, cp.AdminPort).ConfigureAwait(false);
        }
        var restarted = await LaunchControlPlaneAsync($"control-plane :{cp.Port} (restarted)", cp.DataDir, cp.Port, cp.AdminPort).ConfigureAwait(false);
        Replicas[Replicas.IndexOf(cp)] = restarted;
        return restarted;
    }

    /// <summary>The admin token a control plane made in its data dir.</summary>
    public static string AdminTokenOf(ControlPlane cp) => File.ReadAllText(Path.Combine(cp.DataDir, "admin-token")).Trim();

    private string JoinTokenFileOf(ControlPlane cp) => cp == ControlPlane ? JoinTokenFile : Path.Combine(Root, $"join-token-{cp.Port}");

    /// <summary>The control plane's admin token (from its data dir).</summary>
    public string AdminToken => AdminTokenOf(ControlPlane!);

    /// <summary>An unscoped join token every sidecar of this cluster starts with.</summary>
    public string JoinTokenFile => Path.Combine(Root, "join-token");

    /// <summary>Makes a join token through the admin API; scoped to <paramref name="service"/> when given.</summary>
    public async Task<string> CreateJoinTokenAsync(string? service = null)
    {
        using var response = await _http.PostAsJsonAsync(new Uri(ControlPlane!.Admin, "/v1/join-tokens"), new { service }).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        Assert.True(response.IsSuccessStatusCode, $"creating a join token: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("token").GetString()!;
    }

    /// <summary>Restarts the control plane on the same ports and data dir.</summary>
    public Task<ControlPlane> RestartControlPlaneAsync()
    {
        var previous = ControlPlane ?? throw new InvalidOperationException("no control plane");
        previous.Process.Kill();
        return StartControlPlaneAsync(previous.Port, previous.AdminPort);
    }

    public MeshProcess StartApp(string name, int port, params string[] appArgs) =>
        Track(MeshProcess.StartDll($"app {name}", RepoPaths.TestAppDll, ["--port", port.ToString(), "--name", name, .. appArgs], netns: Region?.Netns));

    /// <summary>SIGKILLs the app <see cref="StartApp"/> started under <paramref name="name"/> (its sidecar lives on).</summary>
    public void KillApp(string name)
    {
        foreach (var app in _processes.Where(p => p.Name == $"app {name}" && !p.HasExited))
        {
            app.Kill();
        }
    }

    /// <summary>Starts an app and its sidecar and waits until the sidecar has routes.</summary>
    public Task<Sidecar> StartServiceAsync(string service, string instanceName, params string[] extraArgs) =>
        StartServiceWithAppArgsAsync(service, instanceName, [], extraArgs);

    /// <summary>The same, with flags for the test app (e.g. --fail-rate 0.3, --hang).</summary>
    public Task<Sidecar> StartServiceWithAppArgsAsync(string service, string instanceName, string[] appArgs, params string[] extraArgs) =>
        StartServiceCoreAsync(ControlPlane ?? throw new InvalidOperationException("start the control plane first"), service, instanceName, appArgs, extraArgs);

    public Sidecar StartSidecar(string service, string instanceName, int appPort, params string[] extraArgs) =>
        StartSidecarOn(ControlPlane ?? throw new InvalidOperationException("start the control plane first"), service, instanceName, appPort, extraArgs);

    /// <summary>Starts an app and its sidecar watching <paramref name="cp"/> (a replica), and waits until the sidecar has routes.</summary>
    public Task<Sidecar> StartServiceOnAsync(ControlPlane cp, string service, string instanceName, params string[] extraArgs) =>
        StartServiceCoreAsync(cp, service, instanceName, [], extraArgs);

    private async Task<Sidecar> StartServiceCoreAsync(ControlPlane cp, string service, string instanceName, string[] appArgs, string[] extraArgs)
    {
        var appPort = FreePorts.Next();
        StartApp(instanceName, appPort, appArgs);
        var sidecar = StartSidecarOn(cp, service, instanceName, appPort, extraArgs);
        await WaitReadyAsync(sidecar).ConfigureAwait(false);
        return sidecar;
    }

    private Sidecar StartSidecarOn(ControlPlane cp, string service, string instanceName, int appPort, string[] extraArgs)
    {
        var (outbound, inbound, admin) = (FreePorts.Next(), FreePorts.Next(), FreePorts.Next());
        var dataDir = Path.Combine(Root, "sidecar-" + instanceName);
        string[] args =
        [
            "--service", service, "--instance-id", instanceName,
            // appPort 0: an agent-only sidecar, with no app of its own.
            .. appPort == 0 ? Array.Empty<string>() : ["--app-port", appPort.ToString(), "--app-health", "/health"],
            "--control-plane", SidecarControlPlanes ?? cp.SidecarApi.ToString(), "--data-dir", dataDir,
            "--outbound-port", outbound.ToString(), "--inbound-port", inbound.ToString(), "--admin-port", admin.ToString(),
            .. Region is null ? new[] { "--inbound-listen", "127.0.0.1" }
                : ["--inbound-listen", "0.0.0.0", "--address", Region.Address, .. extraArgs.Contains("--region") ? Array.Empty<string>() : ["--region", Region.Name]],
            "--health-interval", "250ms", .. (UseJoinToken ? ["--join-token-file", JoinTokenFileOf(cp)] : Array.Empty<string>()),
            // Many sidecars share this host: their Consul and Eureka APIs are off unless a test asks for them.
            .. extraArgs.Contains("--consul-port") ? Array.Empty<string>() : ["--consul-port", "0"],
            .. extraArgs.Contains("--eureka-port") ? Array.Empty<string>() : ["--eureka-port", "0"],
            .. extraArgs,
        ];
        var sidecar = new Sidecar(service, instanceName, outbound, inbound, admin, appPort, dataDir,
            Track(StartSidecarProcess($"sidecar {instanceName}", args)), args);
        Sidecars.Add(sidecar);
        return sidecar;
    }

    /// <summary>Starts the same sidecar again (same ports, id and data dir).</summary>
    public Sidecar RestartSidecar(Sidecar sidecar)
    {
        sidecar.Process.Kill();
        var restarted = sidecar with { Process = Track(StartSidecarProcess($"sidecar {sidecar.InstanceId} (restarted)", sidecar.Args)) };
        Sidecars[Sidecars.IndexOf(sidecar)] = restarted;
        return restarted;
    }

    /// <summary>Starts the same sidecar again (same ports, id and data dir) watching another control plane.</summary>
    public Sidecar MoveSidecar(Sidecar sidecar, ControlPlane to)
    {
        sidecar.Process.Kill();
        var args = sidecar.Args.ToArray();
        args[Array.IndexOf(args, "--control-plane") + 1] = to.SidecarApi.ToString();
        var moved = sidecar with { Args = args, Process = Track(StartSidecarProcess($"sidecar {sidecar.InstanceId} (moved to :{to.Port})", args)) };
        Sidecars[Sidecars.IndexOf(sidecar)] = moved;
        return moved;
    }

    private MeshProcess StartSidecarProcess(string name, string[] args) =>
        SidecarBinary is null ? MeshProcess.StartDll(name, RepoPaths.SidecarDll, args, Environment, Region?.Netns) : MeshProcess.Start(name, SidecarBinary, args, Environment, Region?.Netns);

    public Task WaitReadyAsync(Sidecar sidecar) =>
        Eventually.TrueAsync(async () => (await _http.GetAsync(new Uri(sidecar.Admin, "/ready")).ConfigureAwait(false)).IsSuccessStatusCode,
            StartTimeout, () => $"sidecar {sidecar.InstanceId} did not become ready\n{sidecar.Process.Output}");

    /// <summary>Calls <paramref name="host"/> through the sidecar's outbound port, Host-header style.</summary>
    public async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> CallAsync(Sidecar from, string host, string path = "/")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(from.Outbound, path));
        request.Headers.Host = host;
        var response = await _http.SendAsync(request).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync().ConfigureAwait(false), response);
    }

    /// <summary>The instance ids in the sidecar's routing set for a cluster, from its /clusters admin page.</summary>
    public async Task<string[]> EndpointsAsync(Sidecar sidecar, string cluster)
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync(new Uri(sidecar.Admin, "/clusters")).ConfigureAwait(false));
        return doc.RootElement.EnumerateArray()
            .Where(c => c.GetProperty("cluster").GetString() == cluster)
            .SelectMany(c => c.GetProperty("endpoints").EnumerateArray().Select(e => e.GetProperty("instance").GetString()!))
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    public async Task<JsonElement[]> ProxyStatusAsync()
    {
        var json = await _http.GetStringAsync(new Uri(ControlPlane!.Admin, "/v1/proxy-status")).ConfigureAwait(false);
        return JsonDocument.Parse(json).RootElement.EnumerateArray().ToArray();
    }

    public void WriteConfig(string fileName, string yaml) => File.WriteAllText(Path.Combine(ConfigDir, fileName), yaml);

    /// <summary>The control plane's accepted config version.</summary>
    public async Task<long> ConfigVersionAsync()
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync(new Uri(ControlPlane!.Admin, "/v1/config")).ConfigureAwait(false));
        return doc.RootElement.GetProperty("version").GetInt64();
    }

    /// <summary>Writes a config file and waits until the control plane accepted it and every running sidecar applied it.</summary>
    public async Task ApplyConfigAsync(string fileName, string yaml)
    {
        var before = await ConfigVersionAsync().ConfigureAwait(false);
        // The accepted config version moves before the snapshot carrying it is published (pushes are
        // debounced): "every sidecar SYNCED" must mean synced to a snapshot newer than the write, or a
        // sidecar still on the previous snapshot passes for one that applied this change (seen in CI:
        // the fault rule written 280 ms after the previous change was not in effect yet).
        var snapshotBefore = (await ProxyStatusAsync().ConfigureAwait(false)).Select(p => p.GetProperty("currentVersion").GetInt64()).DefaultIfEmpty(0).Max();
        WriteConfig(fileName, yaml);
        await Eventually.TrueAsync(async () => await ConfigVersionAsync().ConfigureAwait(false) > before, TimeSpan.FromSeconds(20),
            () => $"control plane did not accept {fileName} (still version {before})").ConfigureAwait(false);
        var live = Sidecars.Count(s => !s.Process.HasExited);
        await Eventually.ValueAsync(ProxyStatusAsync,
            s => s.Count(p => p.GetProperty("status").GetString() == "SYNCED" && p.GetProperty("appliedVersion").GetInt64() > snapshotBefore) >= live,
            TimeSpan.FromSeconds(20), () => $"sidecars did not apply {fileName}").ConfigureAwait(false);
    }

    /// <summary>Calls through the sidecar with a method, headers and body of the test's choosing.</summary>
    public async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> SendAsync(Sidecar from, string host, string path, Action<HttpRequestMessage> configure)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(from.Outbound, path));
        request.Headers.Host = host;
        configure(request);
        var response = await _http.SendAsync(request).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync().ConfigureAwait(false), response);
    }

    /// <summary>Runs a scenario; if it fails, the failure carries every process's output.</summary>
    public async Task RunAsync(Func<Task> scenario)
    {
        try
        {
            await scenario().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException { Message: var m } || !m.Contains("== control-plane ==", StringComparison.Ordinal))
        {
            throw new Xunit.Sdk.XunitException($"{e.GetType().Name}: {e.Message}\n{e.StackTrace}\n\nProcess output:\n{Logs}");
        }
    }

    private MeshProcess Track(MeshProcess process)
    {
        _processes.Add(process);
        return process;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync().ConfigureAwait(false);
        }
        _http.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A process that was just killed may still hold a file for a moment; the temp dir is harmless.
        }
    }
}
