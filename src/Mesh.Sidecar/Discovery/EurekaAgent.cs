using Mesh.Core.Registry;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Discovery;

/// <summary>
/// What this sidecar's Eureka API holds: the instances its Eureka clients registered (each one mesh
/// instance through <see cref="AgentRegistrations"/>), their leases, evicted when not renewed within
/// <c>durationInSecs</c> as a Eureka server evicts, and the view of the whole mesh that Eureka clients
/// read, with the recent changes that <c>/apps/delta</c> answers.
/// </summary>
internal sealed class EurekaAgent(
    SidecarOptions options,
    AgentRegistrations agent,
    MeshState state,
    TimeProvider time,
    ILogger<EurekaAgent> logger) : BackgroundService
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, EurekaInstance> _held = new(StringComparer.Ordinal);
    private readonly EurekaChangeLog _changes = new();

    public DateTimeOffset Now => time.GetUtcNow();

    public string MeshId(string clientId) => agent.MeshId(clientId);

    /// <summary>Adds or replaces a client's registration. An operator's status override survives it, as in Eureka.</summary>
    public void Register(EurekaInstance instance)
    {
        var meshId = MeshId(instance.InstanceId);
        lock (_lock)
        {
            if (_held.TryGetValue(meshId, out var old))
            {
                instance = instance with { OverriddenStatus = old.OverriddenStatus, RegisteredAt = old.RegisteredAt };
            }
            _held[meshId] = instance;
            agent.Upsert(instance.ToRegistration(meshId, options.Namespace));
        }
        Log.EurekaRegistered(logger, instance.App, instance.InstanceId, meshId, instance.IpAddr, instance.Port, instance.EffectiveStatus, instance.DurationInSecs);
    }

    /// <summary>Why the id is not this API's to take (the sidecar's Consul API holds an instance under the same mesh id), or null.</summary>
    public string? Conflict(string clientId) =>
        agent.Find(MeshId(clientId)) is { Source: not RegistrationSource.Eureka } other
            ? $"instance id '{clientId}' is already registered on this sidecar through its {other.Source} API (as {other.Service}); give the Eureka instance another instanceId"
            : null;

    /// <summary>The control plane's refusal of a registration, or null while it is accepted or pending.</summary>
    public string? Problem(string meshId) => agent.Problem(meshId);

    public bool InSnapshot(string meshId) => state.Current?.Snapshot.Instances.Any(i => i.InstanceId == meshId) == true;

    public EurekaInstance? Find(string app, string clientId)
    {
        lock (_lock)
        {
            return _held.TryGetValue(MeshId(clientId), out var held) && string.Equals(held.App, app, StringComparison.OrdinalIgnoreCase) ? held : null;
        }
    }

    /// <summary>A heartbeat: renews the lease; a <paramref name="status"/> the client sends becomes its reported status.</summary>
    public bool Renew(string app, string clientId, string? status) =>
        Update(app, clientId, held => held with
        {
            LastRenewedAt = Now,
            Status = status ?? held.Status,
            LastDirtyAt = status is not null && status != held.Status ? Now : held.LastDirtyAt,
        });

    /// <summary><c>PUT .../status?value=</c> sets the override; <c>DELETE .../status</c> (null) removes it, optionally reporting a new status.</summary>
    public bool Override(string app, string clientId, string? overridden, string? reported = null) =>
        Update(app, clientId, held => held with { OverriddenStatus = overridden, Status = reported ?? held.Status, LastDirtyAt = Now });

    /// <summary><c>PUT .../metadata?key=value</c>: metadata (the mesh instance's labels) merged in; a re-registration with the control plane.</summary>
    public bool MergeMetadata(string app, string clientId, IReadOnlyDictionary<string, string> metadata)
    {
        var merged = Update(app, clientId, held =>
        {
            var all = new Dictionary<string, string>(held.Metadata, StringComparer.Ordinal);
            foreach (var (key, value) in metadata)
            {
                all[key] = value;
            }
            return held with { Metadata = all, LastDirtyAt = Now };
        });
        if (merged && Find(app, clientId) is { } updated)
        {
            agent.Upsert(updated.ToRegistration(MeshId(clientId), options.Namespace));
        }
        return merged;
    }

    public bool Cancel(string app, string clientId)
    {
        var meshId = MeshId(clientId);
        lock (_lock)
        {
            if (Find(app, clientId) is null)
            {
                return false;
            }
            _held.Remove(meshId);
            agent.Remove(meshId);
        }
        Log.EurekaCancelled(logger, app, clientId, meshId);
        return true;
    }

    /// <summary>
    /// Every instance of this sidecar's namespace in the applied snapshot, as Eureka clients see it: the
    /// ones this sidecar's clients registered as they registered them (their own ids and exact status),
    /// all others from the mesh registry (<see cref="EurekaView.FromMesh"/>), with the snapshot version.
    /// </summary>
    public (IReadOnlyList<EurekaInstance> Instances, long Version) View()
    {
        var applied = state.Current;
        var view = new List<EurekaInstance>();
        lock (_lock)
        {
            foreach (var instance in applied?.Snapshot.Instances ?? [])
            {
                if (instance.Namespace != options.Namespace)
                {
                    continue;
                }
                if (instance.Source == RegistrationSource.Eureka && instance.Node == agent.Node)
                {
                    // Cancelled or evicted here, not yet gone from the snapshot: already gone for Eureka clients.
                    if (_held.TryGetValue(instance.InstanceId, out var held))
                    {
                        view.Add(held);
                    }
                    continue;
                }
                view.Add(EurekaView.FromMesh(instance));
            }
        }
        return (view, applied?.Snapshot.Version ?? 0);
    }

    /// <summary>What changed in the last three minutes (Eureka's delta retention), and the hash code of the whole view.</summary>
    public (IReadOnlyList<(EurekaInstance Instance, string Action)> Changes, long Version, string HashCode) Delta()
    {
        var (view, version) = View();
        lock (_lock)
        {
            return (_changes.Observe(view, Now), version, EurekaJson.HashCode(view));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Log.EurekaListening(logger, options.EurekaPort, options.Namespace);
        long version = -1;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                version = (await state.WaitNewerAsync(version, TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false))?.Snapshot.Version ?? version;
            }
            catch (OperationCanceledException)
            {
                break;
            }
            Evict();
            var (view, _) = View();
            lock (_lock)
            {
                _changes.Observe(view, Now);
            }
        }
    }

    /// <summary>Removes the instances whose clients stopped renewing for their lease's <c>durationInSecs</c>.</summary>
    internal void Evict()
    {
        var now = Now;
        List<(string MeshId, EurekaInstance Instance)> lapsed;
        lock (_lock)
        {
            lapsed = [.. _held.Where(h => h.Value.LeaseExpiresAt < now).Select(h => (h.Key, h.Value))];
            foreach (var (meshId, _) in lapsed)
            {
                _held.Remove(meshId);
                agent.Remove(meshId);
            }
        }
        foreach (var (meshId, instance) in lapsed)
        {
            Log.EurekaEvicted(logger, instance.App, instance.InstanceId, meshId, now - instance.LastRenewedAt);
        }
    }

    private bool Update(string app, string clientId, Func<EurekaInstance, EurekaInstance> change)
    {
        var meshId = MeshId(clientId);
        lock (_lock)
        {
            if (Find(app, clientId) is not { } held)
            {
                return false;
            }
            var updated = change(held);
            _held[meshId] = updated;
            if (updated.EffectiveStatus != held.EffectiveStatus)
            {
                agent.SetHealth(meshId, updated.ToRegistration(meshId, options.Namespace).Health);
                Log.EurekaStatusChanged(logger, app, clientId, held.EffectiveStatus, updated.EffectiveStatus);
            }
            return true;
        }
    }
}
