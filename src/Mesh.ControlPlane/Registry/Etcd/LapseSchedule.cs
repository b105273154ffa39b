using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// When the sweeper removes an instance whose live key is gone while the instance stayed registered (the
/// session of the replica that kept it alive ran out: that replica died, or every replica was down): after
/// <see cref="RegistryOptions.RestoreGrace"/>, time for its sidecar to heartbeat through another replica,
/// which puts the live key back (<see cref="Renewed"/> then takes it off the schedule). An instance whose
/// sidecar stopped heart-beating is expired by the replica that kept it alive, not here
/// (<see cref="EtcdLiveLeases"/>). Not thread-safe: the sweeper's one loop owns it.
/// </summary>
internal sealed class LapseSchedule(RegistryOptions options, TimeProvider time)
{
    private readonly Dictionary<string, DateTimeOffset> _due = new(StringComparer.Ordinal);

    public int Pending => _due.Count;

    /// <summary>An instance has no live key (found so on taking office, or its live key just went): it gets the restore grace.</summary>
    public void Orphaned(string instanceId) => _due.TryAdd(instanceId, time.GetUtcNow() + options.RestoreGrace);

    /// <summary>Removing the instance failed (etcd unreachable): due again at once.</summary>
    public void Retry(string instanceId) => _due[instanceId] = time.GetUtcNow();

    /// <summary>A live key is back (a heartbeat put it on a replica's session, or the instance registered again).</summary>
    public void Renewed(string instanceId) => _due.Remove(instanceId);

    /// <summary>The instances due for removal now, taken off the schedule.</summary>
    public IReadOnlyList<string> TakeDue()
    {
        var now = time.GetUtcNow();
        List<string>? due = null;
        foreach (var (id, at) in _due)
        {
            if (at <= now)
            {
                (due ??= []).Add(id);
            }
        }
        foreach (var id in due ?? [])
        {
            _due.Remove(id);
        }
        return due ?? [];
    }
}
