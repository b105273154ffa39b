using Mesh.Core.Snapshots;
using Mesh.Sidecar.ControlPlane;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Configuration;

/// <summary>
/// Watches the control plane for snapshots with a long poll and applies each one. Every call carries
/// the acknowledgement of the last one (applied, or rejected and why). When the control plane is
/// away, the sidecar keeps routing on what it has and retries with backoff.
/// </summary>
internal sealed class SnapshotWatcher(
    ControlPlaneClient controlPlane,
    SnapshotApplier applier,
    MeshState state,
    Readiness readiness,
    ILogger<SnapshotWatcher> logger) : BackgroundService
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
    private MeshSnapshot? _last;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var applied = await applier.ApplySavedAsync().ConfigureAwait(false);
        if (applied > 0)
        {
            readiness.SetRoutes($"routing on snapshot {applied} saved on disk; control plane not reached yet");
        }
        var received = applied;
        _last = state.Current?.Snapshot;
        string? error = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var result = await controlPlane.WatchAsync(received, applied, error, Wait, stoppingToken, deltaOk: _last?.Version == received && received > 0, scope: _last?.Scope?.Key).ConfigureAwait(false);
                if (_backoff.Attempt > 0)
                {
                    Log.ControlPlaneReachable(logger, controlPlane.Current);
                    _backoff.Reset();
                }
                MeshSnapshot snapshot;
                var json = result.Json;
                if (result.Delta is { } delta)
                {
                    if (_last is null || _last.Version != delta.BaseVersion)
                    {
                        received = 0; // cannot happen unless the state was lost: ask for the whole snapshot
                        continue;
                    }
                    snapshot = delta.ApplyTo(_last);
                }
                else if (result.Snapshot is { } full)
                {
                    snapshot = full;
                }
                else
                {
                    continue;
                }
                received = snapshot.Version;
                _last = snapshot;
                try
                {
                    // What is applied is also on disk, for a restart without the control plane.
                    await applier.ApplyAsync(snapshot, "control-plane", json ?? System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(snapshot, SidecarJson.Options.Info<MeshSnapshot>())).ConfigureAwait(false);
                    applied = snapshot.Version;
                    error = null;
                    readiness.SetRoutes(null);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    error = e.Message;
                    Log.SnapshotRejected(logger, snapshot.Version, e.Message, applied);
                }
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException && !stoppingToken.IsCancellationRequested)
            {
                var delay = _backoff.Next();
                Log.ControlPlaneUnreachable(logger, controlPlane.All, ExceptionText.Describe(e), _backoff.Attempt, delay);
                if (applied == 0)
                {
                    readiness.NotReady($"no routes yet: control plane {controlPlane.All} unreachable ({ExceptionText.Describe(e)}); attempt {_backoff.Attempt}, retrying with backoff");
                }
                try
                {
                    await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
