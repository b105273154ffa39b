using System.Globalization;
using System.Net;
using System.Net.Http.Json;

namespace Mesh.Demo;

/// <summary>A demo failed to come up or to serve a call; the message says which part and where its log is.</summary>
internal sealed class DemoException(string message) : Exception(message);

/// <summary>Starts the demo's processes in order, waits until calls route end to end, and stops them all at the end.</summary>
internal sealed class DemoRun(DemoOptions options, DemoTopology topology, string dataDir, TextWriter output) : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private readonly List<ChildProcess> _children = [];
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
    private readonly string _logDir = Directory.CreateDirectory(Path.Combine(dataDir, "logs")).FullName;

    private Uri ControlPlaneAdmin => new($"http://127.0.0.1:{topology.ControlPlaneAdminPort}");
    /// <summary>The way in for callers outside the mesh: the ingress gateway.</summary>
    private Uri Entry => new($"http://127.0.0.1:{topology.Gateway.Port}/");

    public async Task StartAsync(CancellationToken cancel)
    {
        output.WriteLine($"mesh-demo: files and logs in {dataDir}");
        var controlPlane = Start("control-plane", RepoLayout.Dll("src", "Mesh.ControlPlane"),
        [
            "--config-dir", options.ConfigDir, "--data-dir", Path.Combine(dataDir, "control-plane"),
            "--port", Text(topology.ControlPlanePort), "--admin-port", Text(topology.ControlPlaneAdminPort), "--listen", "127.0.0.1",
            "--dns-port", Text(topology.DnsPort),
        ]);
        await WaitOkAsync(controlPlane, new Uri(ControlPlaneAdmin, "/ready"), cancel).ConfigureAwait(false);
        output.WriteLine($"  control plane     https://127.0.0.1:{topology.ControlPlanePort} (admin {ControlPlaneAdmin})");

        // The admin API takes the token the control plane made; each service joins with its own scoped join token.
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", File.ReadAllText(AdminTokenPath).Trim());
        Directory.CreateDirectory(Path.Combine(dataDir, "join-tokens"));
        foreach (var service in topology.Instances.Select(i => i.Service).Distinct().Append(GatewayPorts.Name))
        {
            using var created = await _http.PostAsJsonAsync(new Uri(ControlPlaneAdmin, "/v1/join-tokens"), new { service, description = "mesh demo" }, cancel).ConfigureAwait(false);
            Require(created.IsSuccessStatusCode, $"creating a join token for {service}: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync(cancel).ConfigureAwait(false)}");
            using var json = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(cancel).ConfigureAwait(false));
            Mesh.Core.Security.SecretFile.Write(JoinTokenPath(service), json.RootElement.GetProperty("token").GetString()!);
        }

        var sidecars = new List<(ChildProcess Process, ServiceInstance Instance)>();
        foreach (var instance in topology.Instances)
        {
            Start(instance.Id, RepoLayout.Dll("examples", instance.Project),
                ["--port", Text(instance.AppPort), "--version", instance.Version],
                new Dictionary<string, string> { ["HTTP_PROXY"] = $"http://127.0.0.1:{instance.OutboundPort}", ["NO_PROXY"] = "" });
            sidecars.Add((Start(instance.Id + "-sidecar", RepoLayout.Dll("src", "Mesh.Sidecar"), SidecarArgs(instance)), instance));
        }
        foreach (var (process, instance) in sidecars)
        {
            await WaitOkAsync(process, new Uri($"http://127.0.0.1:{instance.AdminPort}/ready"), cancel).ConfigureAwait(false);
            output.WriteLine($"  {instance.Id,-17} app 127.0.0.1:{instance.AppPort}, sidecar outbound :{instance.OutboundPort} inbound :{instance.InboundPort} admin :{instance.AdminPort}");
        }

        // The ingress gateway: the sidecar binary serving the Gateway resource of config/bookshop.yaml.
        var gateway = Start("gateway", RepoLayout.Dll("src", "Mesh.Sidecar"), GatewayArgs());
        await WaitOkAsync(gateway, new Uri($"http://127.0.0.1:{topology.Gateway.AdminPort}/ready"), cancel).ConfigureAwait(false);
        output.WriteLine($"  {"gateway",-17} http://127.0.0.1:{topology.Gateway.Port}/ (Gateway {GatewayPorts.Name}, port 80), admin :{topology.Gateway.AdminPort}");

        // Every sidecar is ready; wait until the storefront's page is served end to end through the gateway (all routes applied).
        await Eventually(async () => (await CallStorefrontAsync(user: null, cancel).ConfigureAwait(false)).Status == HttpStatusCode.OK,
            "the storefront page did not load through the mesh", cancel).ConfigureAwait(false);
    }

    /// <summary>The calls a user would make, checked: the page loads through three hops and the routing rules hold.</summary>
    public async Task SmokeTestAsync(CancellationToken cancel)
    {
        var (status, page) = await CallStorefrontAsync(user: null, cancel).ConfigureAwait(false);
        Require(status == HttpStatusCode.OK && page.Contains("Twelfth Night", StringComparison.Ordinal), $"storefront page: {(int)status} {page}");
        output.WriteLine(page);

        var (jasonStatus, jasonPage) = await CallStorefrontAsync(user: "jason", cancel).ConfigureAwait(false);
        Require(jasonStatus == HttpStatusCode.OK && jasonPage.Contains("reviews-v2", StringComparison.Ordinal) && jasonPage.Contains("black stars", StringComparison.Ordinal)
            && !jasonPage.Contains("reviews-v1", StringComparison.Ordinal) && !jasonPage.Contains("reviews-v3", StringComparison.Ordinal),
            $"end-user jason should see only reviews v2 (black stars): {jasonPage}");
        output.WriteLine(jasonPage);

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 10; i++)
        {
            var (s, p) = await CallStorefrontAsync(user: null, cancel).ConfigureAwait(false);
            Require(s == HttpStatusCode.OK, $"storefront call {i}: {(int)s} {p}");
            Require(!p.Contains("reviews-v2", StringComparison.Ordinal), $"anonymous users must not reach reviews v2: {p}");
            seen.UnionWith(new[] { "reviews-v1", "reviews-v3" }.Where(v => p.Contains(v, StringComparison.Ordinal)));
        }
        Require(seen.Count == 2, $"the 50/50 split should reach both reviews v1 and v3 in 30 calls, saw {string.Join(", ", seen)}");
    }

    public void PrintWelcome()
    {
        var entry = topology.Entry;
        output.WriteLine($"""

            The bookshop is up. Try it (the ingress gateway is the way in, as for a browser):
              curl {Entry}                        # reviews v1 or v3, 50/50
              curl -H 'end-user: jason' {Entry}   # always reviews v2
              open {Entry} in a browser
            Inside the mesh, an app calls its own sidecar: curl -H 'Host: storefront' http://127.0.0.1:{entry.OutboundPort}/
            Routing: edit {Path.Combine(options.ConfigDir, "bookshop.yaml")}; changes apply within a second.
            Control plane: dotnet run --project src/Mesh.Cli -- --admin {ControlPlaneAdmin} --token-file {AdminTokenPath} proxy-status
              (or curl -H "Authorization: Bearer $(cat {AdminTokenPath})" {ControlPlaneAdmin}v1/proxy-status)
            Discovery over DNS: dig @127.0.0.1 -p {topology.DnsPort} reviews.service.consul SRV   (healthy instances only)
            Between sidecars: mutual TLS 1.3 with SPIFFE workload certificates from the control plane's CA.
            Sidecar admin: http://127.0.0.1:{entry.AdminPort}/clusters  /config_dump  /ready
            Traces: {TraceTarget()}
            Logs: {_logDir}
            Ctrl-C stops everything.
            """);
    }

    private static string TraceTarget() => Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } endpoint
        ? $"exported over OTLP to {endpoint} (open Jaeger's UI, e.g. http://localhost:16686)"
        : "not exported; start Jaeger (docker run -p 16686:16686 -p 4317:4317 jaegertracing/all-in-one) and rerun with OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317";

    private string AdminTokenPath => Path.Combine(dataDir, "control-plane", "admin-token");

    private string JoinTokenPath(string service) => Path.Combine(dataDir, "join-tokens", service);

    private string[] SidecarArgs(ServiceInstance instance) =>
    [
        "--join-token-file", JoinTokenPath(instance.Service),
        "--service", instance.Service, "--label", $"version={instance.Version}", "--instance-id", instance.Id,
        "--app-port", Text(instance.AppPort), "--app-health", "/health",
        "--control-plane", $"https://127.0.0.1:{topology.ControlPlanePort}", "--data-dir", Path.Combine(dataDir, "sidecars", instance.Id),
        "--outbound-port", Text(instance.OutboundPort), "--inbound-port", Text(instance.InboundPort), "--admin-port", Text(instance.AdminPort),
        "--inbound-listen", "127.0.0.1", "--trace-sampling", options.TraceSampling.ToString(CultureInfo.InvariantCulture),
        // One host, many sidecars: the Consul and Eureka agent APIs are off (each would want 8500 and 8761).
        "--consul-port", "0", "--eureka-port", "0",
    ];

    private string[] GatewayArgs() =>
    [
        "--gateway", GatewayPorts.Name, "--join-token-file", JoinTokenPath(GatewayPorts.Name),
        "--control-plane", $"https://127.0.0.1:{topology.ControlPlanePort}", "--data-dir", Path.Combine(dataDir, "sidecars", GatewayPorts.Name),
        "--gateway-listen", "127.0.0.1", "--gateway-port", $"80={Text(topology.Gateway.Port)}",
        "--outbound-port", Text(topology.Gateway.OutboundPort), "--inbound-port", Text(topology.Gateway.InboundPort), "--admin-port", Text(topology.Gateway.AdminPort),
        "--inbound-listen", "127.0.0.1", "--trace-sampling", options.TraceSampling.ToString(CultureInfo.InvariantCulture),
        "--consul-port", "0", "--eureka-port", "0",
    ];

    private async Task<(HttpStatusCode Status, string Body)> CallStorefrontAsync(string? user, CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Entry);
        if (user is not null)
        {
            request.Headers.Add("end-user", user);
        }
        using var response = await _http.SendAsync(request, cancel).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false));
    }

    private ChildProcess Start(string name, string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var child = ChildProcess.Start(name, dll, args, _logDir, environment);
        _children.Add(child);
        return child;
    }

    private async Task WaitOkAsync(ChildProcess process, Uri url, CancellationToken cancel)
    {
        await Eventually(async () =>
        {
            if (process.HasExited)
            {
                throw new DemoException($"{process.Name} exited; its log ({process.LogPath}) ends:\n{process.Tail(20)}");
            }
            using var response = await _http.GetAsync(url, cancel).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }, $"{process.Name} did not become ready at {url}; its log ({process.LogPath}) ends:\n{process.Tail(20)}", cancel).ConfigureAwait(false);
    }

    private static async Task Eventually(Func<Task<bool>> condition, string failure, CancellationToken cancel)
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            try
            {
                if (await condition().ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
            {
                // A call that timed out while everything starts up.
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new DemoException(failure);
            }
            await Task.Delay(250, cancel).ConfigureAwait(false);
        }
    }

    private static void Require(bool condition, string failure)
    {
        if (!condition)
        {
            throw new DemoException("smoke test failed: " + failure);
        }
    }

    private static string Text(int port) => port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Stops sidecars and apps first (sidecars deregister), the control plane last.</summary>
    public async ValueTask DisposeAsync()
    {
        var reversed = Enumerable.Reverse(_children).ToArray();
        foreach (var child in reversed.Where(c => c.Name != "control-plane"))
        {
            child.Terminate();
        }
        await Task.WhenAll(reversed.Where(c => c.Name != "control-plane").Select(c => c.WaitForExitAsync(TimeSpan.FromSeconds(10)))).ConfigureAwait(false);
        foreach (var child in reversed.Where(c => c.Name == "control-plane"))
        {
            child.Terminate();
            await child.WaitForExitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        foreach (var child in reversed)
        {
            child.Dispose();
        }
        _http.Dispose();
        output.WriteLine($"mesh-demo: stopped {reversed.Length} processes");
    }
}
