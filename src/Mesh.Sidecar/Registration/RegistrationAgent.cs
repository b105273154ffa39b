using Mesh.Core.Registry;
using Mesh.Sidecar.ControlPlane;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Registration;

/// <summary>
/// Keeps this instance in the registry: checks the app, registers, renews the lease with heartbeats
/// carrying the app's health (at once when it changes), registers again when the control plane has
/// forgotten the instance (it restarted, or the lease ran out), and deregisters on shutdown.
/// </summary>
internal sealed class RegistrationAgent(
    SidecarOptions options,
    ControlPlaneClient controlPlane,
    AppHealthChecker health,
    TimeProvider time,
    ILogger<RegistrationAgent> logger) : BackgroundService
{
    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
    private LeaseGrant? _lease;
    private DateTimeOffset _nextHeartbeat;
    private DateTimeOffset _nextContact;

    public bool Registered => _lease is not null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
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
                    if (!await controlPlane.HeartbeatAsync(options.InstanceId, health.Current, stoppingToken).ConfigureAwait(false))
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
                Log.ControlPlaneUnreachable(logger, options.ControlPlane, ExceptionText.Describe(e), _backoff.Attempt, delay);
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
            // The lease will expire on its own; shutdown must not hang on an unreachable control plane.
            Log.ControlPlaneUnreachable(logger, options.ControlPlane, ExceptionText.Describe(e), 1, TimeSpan.Zero);
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
        Zone = options.Zone,
        Region = options.Region,
        Health = health.Current,
    };

    private void ScheduleHeartbeat() => _nextHeartbeat = time.GetUtcNow() + _lease!.HeartbeatInterval;

    private void Reachable()
    {
        if (_backoff.Attempt > 0)
        {
            Log.ControlPlaneReachable(logger, options.ControlPlane);
            _backoff.Reset();
        }
    }
}
