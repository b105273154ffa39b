using Mesh.Core.Registry;
using Mesh.Sidecar.ControlPlane;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Telemetry;

namespace Mesh.Sidecar.Registration;

/// <summary>
/// Keeps this instance in the registry: checks the app, registers, renews the lease with heartbeats
/// carrying the app's health (at once when it changes), registers again when the control plane has
/// forgotten the instance (it restarted, or the lease ran out), and drains on shutdown: on SIGTERM it
/// deregisters first (callers are told at once through their watches), keeps serving for the drain
/// delay while they switch, and only then lets the host close the ports and finish in-flight requests.
/// </summary>
internal sealed class RegistrationAgent(
    SidecarOptions options,
    ControlPlaneClient controlPlane,
    AppHealthChecker health,
    TimeProvider time,
    ILogger<RegistrationAgent> logger) : BackgroundService, IHostedLifecycleService
{
    private volatile bool _draining;
    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
    private LeaseGrant? _lease;
    private DateTimeOffset _nextHeartbeat;
    private DateTimeOffset _nextContact;

    public bool Registered => _lease is not null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.AppPort == 0)
        {
            Log.AgentOnly(logger, options.Service, options.Namespace);
            return; // an agent-only sidecar: no app, so no instance of its own
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            if (_draining)
            {
                break; // deregistered: never register or renew again
            }
            try
            {
                if (await health.CheckAsync(stoppingToken).ConfigureAwait(false))
                {
                    Log.AppHealthChanged(logger, options.AppPort, health.Current.ToString(), health.LastDetail);
                    _nextHeartbeat = DateTimeOffset.MinValue; // report the change now, not at the next interval
                }
                if (time.GetUtcNow() < _nextContact)
                {
                    // backing off after a failed call; health checks go on meanwhile
                }
                else if (_lease is null)
                {
                    _lease = await controlPlane.RegisterAsync(Registration(), stoppingToken).ConfigureAwait(false);
                    Log.Registered(logger, options.InstanceId, options.Service, options.Namespace, options.Address, options.InboundPort, _lease.Ttl, _lease.HeartbeatInterval);
                    ScheduleHeartbeat();
                    Reachable();
                }
                else if (time.GetUtcNow() >= _nextHeartbeat)
                {
                    if (!await controlPlane.HeartbeatAsync(options.InstanceId, health.Current, stoppingToken, InboundTally.Report()).ConfigureAwait(false))
                    {
                        Log.Reregistering(logger, options.InstanceId);
                        _lease = null;
                        continue;
                    }
                    ScheduleHeartbeat();
                    Reachable();
                }
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !stoppingToken.IsCancellationRequested)
            {
                var delay = _backoff.Next();
                _nextContact = time.GetUtcNow() + delay;
                Log.ControlPlaneUnreachable(logger, controlPlane.All, ExceptionText.Describe(e), _backoff.Attempt, delay);
            }
            try
            {
                await Task.Delay(options.HealthInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public bool Draining => _draining;

    /// <summary>Runs before any service stops (the ports are still open): deregister, then wait the drain delay.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        if (_lease is null)
        {
            return;
        }
        try
        {
            await controlPlane.DeregisterAsync(options.InstanceId, cancellationToken).ConfigureAwait(false);
            _lease = null;
            Log.Draining(logger, options.InstanceId, options.DrainDelay);
            await Task.Delay(options.DrainDelay, time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // The lease will expire on its own; shutdown must not hang on an unreachable control plane.
            Log.ControlPlaneUnreachable(logger, controlPlane.All, ExceptionText.Describe(e), 1, TimeSpan.Zero);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_lease is null)
        {
            return;
        }
        try
        {
            await controlPlane.DeregisterAsync(options.InstanceId, cancellationToken).ConfigureAwait(false);
            Log.Deregistered(logger, options.InstanceId);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            Log.ControlPlaneUnreachable(logger, controlPlane.All, ExceptionText.Describe(e), 1, TimeSpan.Zero);
        }
    }

    private Mesh.Core.Registry.Registration Registration() => new()
    {
        InstanceId = options.InstanceId,
        Service = options.Service,
        Namespace = options.Namespace,
        Address = options.Address,
        Port = options.InboundPort,
        Labels = options.Labels,
        TcpPorts = options.AppTcpPorts.Select(p => new Mesh.Core.Registry.InstancePort(p.Number, p.Protocol)).ToArray(),
        Zone = options.Zone,
        Region = options.Region,
        Health = health.Current,
    };

    private void ScheduleHeartbeat() => _nextHeartbeat = time.GetUtcNow() + _lease!.HeartbeatInterval;

    private void Reachable()
    {
        if (_backoff.Attempt > 0)
        {
            Log.ControlPlaneReachable(logger, controlPlane.Current);
            _backoff.Reset();
        }
    }
}
