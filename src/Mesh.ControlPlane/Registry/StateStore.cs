using System.Text.Json;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Hosting;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Registry;

/// <summary>
/// Keeps the registry and the snapshot version counter in the data dir, so a restarted control plane
/// serves the same endpoints (with fresh leases) and never reuses a version number. Writes are
/// coalesced: a burst of registrations costs one write.
/// </summary>
internal sealed class StateStore(ControlPlaneOptions options, ServiceRegistry registry, SnapshotPublisher publisher, ILogger<StateStore> logger)
    : BackgroundService
{
    private static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(100);
    private readonly SemaphoreSlim _dirty = new(0, 1);

    private string StatePath => Path.Combine(options.DataDir, "state.json");

    /// <summary>Reads saved state; returns the version to continue from.</summary>
    public static long Restore(string dataDir, ServiceRegistry registry, ILogger logger)
    {
        var path = Path.Combine(dataDir, "state.json");
        if (!File.Exists(path))
        {
            return 0;
        }
        var state = JsonSerializer.Deserialize<SavedState>(File.ReadAllBytes(path), MeshJson.Options) ?? new SavedState();
        registry.Restore(state.Instances);
        Log.StateRestored(logger, state.Instances.Count, state.Version, path);
        return state.Version;
    }

    public void MarkDirty()
    {
        if (_dirty.CurrentCount == 0)
        {
            try
            {
                _dirty.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already marked by another thread.
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                await _dirty.WaitAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(Coalesce, stoppingToken).ConfigureAwait(false);
                Save();
            }
        }
        catch (OperationCanceledException)
        {
            Save(); // the last change before a graceful stop is kept too
        }
    }

    private void Save()
    {
        try
        {
            var state = new SavedState { Version = publisher.Version, Instances = registry.Instances };
            AtomicFile.Write(StatePath, JsonSerializer.SerializeToUtf8Bytes(state, MeshJson.Options));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.StateSaveFailed(logger, e, StatePath);
        }
    }

    private sealed record SavedState
    {
        public long Version { get; init; }
        public IReadOnlyList<ServiceInstance> Instances { get; init; } = [];
    }
}
