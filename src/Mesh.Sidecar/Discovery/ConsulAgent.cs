using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Core.Hosting;
using Mesh.Core.Registry;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Discovery;

/// <summary>One check's live state, as <c>/v1/agent/checks</c> and the health endpoints show it.</summary>
internal sealed record ConsulCheckState(string Status, string Output, DateTimeOffset Since);

/// <summary>
/// The Consul agent's own part: the services registered with it and their checks, run here next to the
/// app (HTTP, TCP, TTL) so the control plane never polls apps. A service's mesh health is its worst check
/// (warning counts as not passing: Mesh routes to passing instances only); one critical for longer than
/// its <c>DeregisterCriticalServiceAfter</c> is deregistered. The definitions are saved in the data dir,
/// so a restarted sidecar holds the same services, as a Consul agent does.
/// </summary>
internal sealed class ConsulAgent : BackgroundService
{
    private readonly AgentRegistrations _registrations;
    private readonly TimeProvider _time;
    private readonly ILogger<ConsulAgent> _logger;
    private readonly string _savedPath;
    private readonly ConcurrentDictionary<string, Hosted> _services = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConsulCheckState> _checks = new(StringComparer.Ordinal);
    private readonly HttpClient _http;
    private readonly HttpClient _httpInsecure;
    private readonly object _saveGate = new();

    public ConsulAgent(SidecarOptions options, AgentRegistrations registrations, TimeProvider time, ILogger<ConsulAgent> logger)
    {
        _registrations = registrations;
        _time = time;
        _logger = logger;
        _savedPath = Path.Combine(options.DataDir, "consul-services.json");
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1), AllowAutoRedirect = false }) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _httpInsecure = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            AllowAutoRedirect = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        }) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        Restore();
    }

    public IEnumerable<ConsulServiceDefinition> Services => _services.Values.Select(h => h.Definition).OrderBy(d => d.Id, StringComparer.Ordinal);

    public ConsulServiceDefinition? Find(string serviceId) => _services.TryGetValue(serviceId, out var hosted) ? hosted.Definition : null;

    public IEnumerable<(ConsulServiceDefinition Service, ConsulCheckDefinition Check, ConsulCheckState State)> Checks =>
        Services.SelectMany(s => s.Checks.Select(c => (s, c, _checks.GetValueOrDefault(c.CheckId) ?? new ConsulCheckState(c.InitialStatus, "", _time.GetUtcNow()))));

    public string MeshId(ConsulServiceDefinition service) => _registrations.MeshId(service.Id);

    /// <summary>The control plane's refusal of this service's registration (e.g. outside the join token's scope), or null.</summary>
    public string? Problem(string serviceId) => _registrations.Problem(_registrations.MeshId(serviceId));

    /// <summary>Adds or replaces a service and starts its checks; a replaced service's checks start over.</summary>
    public void Register(ConsulServiceDefinition service)
    {
        Deregister(service.Id, save: false, forget: false);
        var now = _time.GetUtcNow();
        foreach (var check in service.Checks)
        {
            _checks[check.CheckId] = new ConsulCheckState(check.InitialStatus, check.Kind == ConsulCheckKind.Ttl ? "TTL check registered; waiting for its first update" : "", now);
        }
        var hosted = new Hosted(service, new CancellationTokenSource());
        foreach (var check in service.Checks.Where(c => c.Kind == ConsulCheckKind.Ttl))
        {
            hosted.TtlExpires[check.CheckId] = now + check.Ttl; // a TTL check registered passing lapses like any other
        }
        _services[service.Id] = hosted;
        _registrations.Upsert(ToRegistration(service));
        foreach (var check in service.Checks.Where(c => c.Kind != ConsulCheckKind.Ttl))
        {
            _ = RunCheckAsync(service, check, hosted.Stop.Token);
        }
        Save();
    }

    public bool Deregister(string serviceId) => Deregister(serviceId, save: true, forget: true);

    private bool Deregister(string serviceId, bool save, bool forget)
    {
        if (!_services.TryRemove(serviceId, out var hosted))
        {
            return false;
        }
        hosted.Stop.Cancel();
        hosted.Stop.Dispose();
        foreach (var check in hosted.Definition.Checks)
        {
            _checks.TryRemove(check.CheckId, out _);
        }
        if (forget)
        {
            _registrations.Remove(_registrations.MeshId(serviceId));
        }
        if (save)
        {
            Save();
        }
        return true;
    }

    /// <summary>A TTL check's update from its client (<c>/v1/agent/check/pass|warn|fail|update</c>): why it was refused, or null.</summary>
    public string? UpdateTtl(string checkId, string status, string? output)
    {
        var owner = Services.FirstOrDefault(s => s.Checks.Any(c => c.CheckId == checkId));
        if (owner is null)
        {
            return $"CheckID '{checkId}' does not have associated TTL";
        }
        var check = owner.Checks.First(c => c.CheckId == checkId);
        if (check.Kind != ConsulCheckKind.Ttl)
        {
            return $"CheckID '{checkId}' does not have associated TTL";
        }
        var now = _time.GetUtcNow();
        _services.TryGetValue(owner.Id, out var hosted);
        if (hosted is not null)
        {
            hosted.TtlExpires[checkId] = now + check.Ttl;
        }
        SetStatus(owner, check, status, output ?? "");
        return null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // TTL expiries and DeregisterCriticalServiceAfter are judged here; HTTP and TCP checks run on their own loops.
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100), _time);
        try
        {
            while (await tick.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var now = _time.GetUtcNow();
                foreach (var hosted in _services.Values)
                {
                    foreach (var check in hosted.Definition.Checks)
                    {
                        if (check.Kind == ConsulCheckKind.Ttl && hosted.TtlExpires.TryGetValue(check.CheckId, out var expires) && now > expires
                            && _checks.GetValueOrDefault(check.CheckId)?.Status != ConsulStatus.Critical)
                        {
                            SetStatus(hosted.Definition, check, ConsulStatus.Critical, $"TTL expired (last update more than {check.Ttl} ago)");
                        }
                        if (check.DeregisterCriticalServiceAfter is { } after && _checks.GetValueOrDefault(check.CheckId) is { Status: ConsulStatus.Critical } state
                            && now - state.Since >= after)
                        {
                            Log.CriticalDeregistered(_logger, hosted.Definition.Id, after);
                            Deregister(hosted.Definition.Id);
                            break;
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RunCheckAsync(ConsulServiceDefinition service, ConsulCheckDefinition check, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var (status, output) = check.Kind == ConsulCheckKind.Http ? await HttpAsync(check, stop).ConfigureAwait(false) : await TcpAsync(check, stop).ConfigureAwait(false);
                if (stop.IsCancellationRequested)
                {
                    break;
                }
                SetStatus(service, check, status, output);
                await Task.Delay(check.Interval, _time, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Consul's rule: a 2xx answer is passing, 429 (Too Many Requests) warning, anything else or no answer critical.</summary>
    private async Task<(string Status, string Output)> HttpAsync(ConsulCheckDefinition check, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(check.Timeout);
        try
        {
            using var request = new HttpRequestMessage(new HttpMethod(check.Method), check.Target);
            foreach (var (name, values) in check.Headers)
            {
                request.Headers.TryAddWithoutValidation(name, values);
            }
            using var response = await (check.TlsSkipVerify ? _httpInsecure : _http).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var body = await ReadPrefixAsync(response, timeout.Token).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            var status = code is >= 200 and < 300 ? ConsulStatus.Passing : code == 429 ? ConsulStatus.Warning : ConsulStatus.Critical;
            return (status, $"HTTP {check.Method} {check.Target}: {code} {response.ReasonPhrase} Output: {body}");
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return (ConsulStatus.Critical, $"HTTP {check.Method} {check.Target}: timed out after {check.Timeout}");
        }
        catch (HttpRequestException e)
        {
            return (ConsulStatus.Critical, $"HTTP {check.Method} {check.Target}: {ExceptionText.Describe(e)}");
        }
    }

    private static async Task<string> ReadPrefixAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        // Consul keeps the first 4 KiB of the body as the check's output.
        var buffer = new byte[4096];
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
    }

    private static async Task<(string Status, string Output)> TcpAsync(ConsulCheckDefinition check, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(check.Timeout);
        var colon = check.Target.LastIndexOf(':');
        var host = check.Target[..colon].Trim('[', ']');
        var port = int.Parse(check.Target.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            return (ConsulStatus.Passing, $"TCP connect {check.Target}: Success");
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return (ConsulStatus.Critical, $"TCP connect {check.Target}: timed out after {check.Timeout}");
        }
        catch (SocketException e)
        {
            return (ConsulStatus.Critical, $"TCP connect {check.Target}: {e.SocketErrorCode}");
        }
    }

    private void SetStatus(ConsulServiceDefinition service, ConsulCheckDefinition check, string status, string output)
    {
        var now = _time.GetUtcNow();
        var previous = _checks.GetValueOrDefault(check.CheckId);
        if (!_services.ContainsKey(service.Id))
        {
            return; // deregistered meanwhile
        }
        _checks[check.CheckId] = new ConsulCheckState(status, output, previous?.Status == status ? previous.Since : now);
        if (previous?.Status != status)
        {
            Log.CheckChanged(_logger, check.CheckId, service.Id, status, output.Length > 200 ? output[..200] : output);
            _registrations.SetHealth(_registrations.MeshId(service.Id), HealthOf(service));
        }
    }

    /// <summary>Healthy when every check passes (a service without checks is passing, as in Consul).</summary>
    private HealthStatus HealthOf(ConsulServiceDefinition service) =>
        service.Checks.All(c => (_checks.GetValueOrDefault(c.CheckId)?.Status ?? c.InitialStatus) == ConsulStatus.Passing)
            ? HealthStatus.Healthy
            : HealthStatus.Unhealthy;

    private Mesh.Core.Registry.Registration ToRegistration(ConsulServiceDefinition service) => new()
    {
        InstanceId = _registrations.MeshId(service.Id),
        Service = service.Name,
        Namespace = service.Namespace,
        Address = service.Address,
        Port = service.Port,
        Labels = service.Meta,
        Zone = service.Zone,
        Region = service.Region,
        Health = HealthOf(service),
        Source = RegistrationSource.Consul,
        Tags = service.Tags,
    };

    private void Save()
    {
        lock (_saveGate)
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(Services.ToArray(), ConsulAgentJsonContext.Default.ConsulServiceDefinitionArray);
            AtomicFile.Write(_savedPath, json);
        }
    }

    private void Restore()
    {
        if (!File.Exists(_savedPath))
        {
            return;
        }
        try
        {
            var saved = JsonSerializer.Deserialize(File.ReadAllBytes(_savedPath), ConsulAgentJsonContext.Default.ConsulServiceDefinitionArray) ?? [];
            foreach (var service in saved)
            {
                Register(service);
            }
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            Log.SavedServicesUnreadable(_logger, _savedPath, e.Message);
        }
    }

    public override void Dispose()
    {
        foreach (var hosted in _services.Values)
        {
            hosted.Stop.Cancel();
        }
        _http.Dispose();
        _httpInsecure.Dispose();
        base.Dispose();
    }

    private sealed record Hosted(ConsulServiceDefinition Definition, CancellationTokenSource Stop)
    {
        public ConcurrentDictionary<string, DateTimeOffset> TtlExpires { get; } = new(StringComparer.Ordinal);
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(ConsulServiceDefinition[]))]
internal sealed partial class ConsulAgentJsonContext : JsonSerializerContext;
