using System.Collections.Concurrent;
using Mesh.Core.Registry;
using Mesh.Sidecar.ControlPlane;
using Mesh.Sidecar.Hosting;
using ClientRegistration = Mesh.Core.Registry.Registration;

namespace Mesh.Sidecar.Discovery;

/// <summary>
/// The instances this sidecar's discovery agent holds for Consul and Eureka clients next to it: each is an
/// ordinary mesh instance, registered with the control plane under this sidecar's certificate (the agent
/// scope decides what it may register), its lease renewed with the health the agent last saw, registered
/// again when the control plane forgot it, and deregistered when its client removes it. If the sidecar
/// dies, the leases lapse and the instances leave every caller's set, as a Consul agent's services do.
/// </summary>
internal sealed class AgentRegistrations(
    SidecarOptions options,
    ControlPlaneClient controlPlane,
    TimeProvider time,
    ILogger<AgentRegistrations> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
    private readonly ConcurrentQueue<string> _removed = new();

    /// <summary>The mesh instance id for a client's own id: <c>&lt;id&gt;@&lt;this sidecar&gt;</c>.</summary>
    public string MeshId(string clientId) => $"{clientId}@{options.InstanceId}";

    /// <summary>This sidecar's node name, as Consul's agents have.</summary>
    public string Node => options.InstanceId;

    /// <summary>Adds or replaces a registration; it reaches the control plane at once (in the background).</summary>
    public void Upsert(ClientRegistration registration)
    {
        _entries.AddOrUpdate(registration.InstanceId,
            _ => new Entry(registration with { Node = Node }),
            (_, old) => old with { Registration = registration with { Node = Node }, Registered = false, Refused = false, Problem = null });
        _wake.Release();
    }

    /// <summary>Sets a held instance's health; a change is reported at once. False when it is not held.</summary>
    public bool SetHealth(string meshId, HealthStatus health)
    {
        while (_entries.TryGetValue(meshId, out var entry))
        {
            if (entry.Registration.Health == health)
            {
                return true;
            }
            if (_entries.TryUpdate(meshId, entry with { Registration = entry.Registration with { Health = health }, HealthChanged = true }, entry))
            {
                _wake.Release();
                return true;
            }
        }
        return false;
    }

    public bool Remove(string meshId)
    {
        if (!_entries.TryRemove(meshId, out _))
        {
            return false;
        }
        _removed.Enqueue(meshId);
        _wake.Release();
        return true;
    }

    public ClientRegistration? Find(string meshId) => _entries.TryGetValue(meshId, out var entry) ? entry.Registration : null;

    public IEnumerable<ClientRegistration> All(RegistrationSource source) =>
        _entries.Values.Select(e => e.Registration).Where(r => r.Source == source).OrderBy(r => r.InstanceId, StringComparer.Ordinal);

    /// <summary>The last refusal of the control plane for a registration (e.g. outside this sidecar's scope), or null.</summary>
    public string? Problem(string meshId) => _entries.TryGetValue(meshId, out var entry) ? entry.Problem : null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var heartbeat = TimeSpan.FromSeconds(1);
        var nextHeartbeat = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (_removed.TryDequeue(out var id))
                {
                    if (!_entries.ContainsKey(id))
                    {
                        await controlPlane.DeregisterAsync(id, stoppingToken).ConfigureAwait(false);
                        Log.AgentDeregistered(logger, id);
                    }
                }
                var beat = time.GetUtcNow() >= nextHeartbeat;
                foreach (var (id, entry) in _entries)
                {
                    if (!entry.Registered)
                    {
                        try
                        {
                            var lease = await controlPlane.RegisterAsync(entry.Registration, stoppingToken).ConfigureAwait(false);
                            heartbeat = lease.HeartbeatInterval;
                            _entries.TryUpdate(id, entry with { Registered = true, HealthChanged = false, Problem = null }, entry);
                            Log.AgentRegistered(logger, id, entry.Registration.Source.ToString(), entry.Registration.Service, entry.Registration.Namespace,
                                entry.Registration.Address, entry.Registration.Port, entry.Registration.Health.ToString());
                        }
                        catch (HttpRequestException e) when (e.StatusCode is System.Net.HttpStatusCode.BadRequest or System.Net.HttpStatusCode.Forbidden)
                        {
                            // Outside this sidecar's scope, or invalid: kept (its client sees the reason), retried on change.
                            _entries.TryUpdate(id, entry with { Registered = true, Refused = true, Problem = e.Message }, entry);
                            Log.AgentRegistrationRefused(logger, id, e.Message);
                        }
                    }
                    else if (!entry.Refused && (beat || entry.HealthChanged))
                    {
                        var known = await controlPlane.HeartbeatAsync(id, entry.Registration.Health, stoppingToken).ConfigureAwait(false);
                        _entries.TryUpdate(id, entry with { Registered = known, HealthChanged = false }, entry);
                        if (!known)
                        {
                            Log.AgentReregistering(logger, id);
                        }
                    }
                }
                if (beat)
                {
                    nextHeartbeat = time.GetUtcNow() + heartbeat;
                }
                _backoff.Reset();
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !stoppingToken.IsCancellationRequested)
            {
                var delay = _backoff.Next();
                Log.ControlPlaneUnreachable(logger, controlPlane.All, ExceptionText.Describe(e), _backoff.Attempt, delay);
                await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
                continue;
            }
            try
            {
                var wait = nextHeartbeat - time.GetUtcNow();
                await _wake.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>On shutdown the held instances are deregistered, as a Consul agent leaving does; a crash leaves them to their leases.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        foreach (var id in _entries.Keys)
        {
            try
            {
                await controlPlane.DeregisterAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                Log.ControlPlaneUnreachable(logger, controlPlane.All, ExceptionText.Describe(e), 1, TimeSpan.Zero);
                break;
            }
        }
    }

    private sealed record Entry(ClientRegistration Registration)
    {
        public bool Registered { get; init; }
        public bool HealthChanged { get; init; }
        public bool Refused { get; init; }
        public string? Problem { get; init; }
    }
}
