using System.Text.Json;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;

namespace Mesh.Core.Snapshots;

/// <summary>A snapshot with its JSON encoding, made once per version and shared by every watcher.</summary>
public sealed record PublishedSnapshot(MeshSnapshot Snapshot, byte[] Json)
{
    private readonly Lazy<byte[]> _gzip = new(() => Compress(Json), LazyThreadSafetyMode.ExecutionAndPublication);

    public long Version => Snapshot.Version;

    /// <summary>
    /// The JSON gzip-compressed, also once per version: with a thousand watchers, a registry change is
    /// a thousand copies of the snapshot, and instance lists compress about tenfold.
    /// </summary>
    public byte[] Gzip => _gzip.Value;

    private static byte[] Compress(byte[] json)
    {
        using var output = new MemoryStream(json.Length / 4);
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(json);
        }
        return output.ToArray();
    }
}

/// <summary>
/// Holds the current config and endpoint set, numbers each change, and wakes long-poll watchers.
/// Changes are published after a debounce (as Istio's control plane does): a burst of registry changes
/// within it (a rollout, re-registrations after a restart) is one push to every watcher, not one per
/// change. Encoding is lazy: once per published version, when a watcher first asks.
/// </summary>
public sealed class SnapshotPublisher
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _debounce;
    private readonly long _startVersion;
    private readonly Lock _gate = new();
    private ConfigSet _config = ConfigSet.Empty;
    private long _configVersion;
    private IReadOnlyList<ServiceInstance> _instances = [];
    private ServiceRegistry? _registry;
    private IReadOnlyList<ServiceInstance> _imported = [];
    private long _version;
    private State _published;
    private bool _publishPending;
    private bool _everPublished;
    private PublishedSnapshot? _encoded;
    private TaskCompletionSource _changed = NewSignal();
    // What each recent publish changed, oldest first, so a watcher a few versions behind gets a delta.
    private readonly LinkedList<Step> _history = new();
    private readonly Dictionary<long, (long Version, byte[] Json)> _deltas = new();

    private sealed record State(long Version, long ConfigVersion, ConfigSet Config, IReadOnlyList<ServiceInstance> Instances);

    private sealed record Step(long From, long To, long ConfigFrom, long ConfigTo, IReadOnlyList<ServiceInstance> Upserts, IReadOnlyList<string> Removed);

    /// <summary>How many publishes back a delta can reach; older watchers get the full snapshot.</summary>
    public const int DeltaHistory = 64;

    /// <param name="debounce">How long after a change it is published; zero publishes each change at once.</param>
    public SnapshotPublisher(TimeProvider time, long startVersion = 0, TimeSpan debounce = default)
    {
        _time = time;
        _debounce = debounce;
        _version = startVersion;
        _startVersion = startVersion;
        _published = new State(startVersion, 0, ConfigSet.Empty, []);
    }

    /// <summary>
    /// Names this run of the publisher: versions (and so deltas) mean something only within one run, since
    /// a control plane that lost its state numbers from the start again. Watchers send it back with delta requests.
    /// </summary>
    public string Epoch { get; } = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));

    /// <summary>The latest version, published or about to be.</summary>
    public long Version => Volatile.Read(ref _version);

    public long ConfigVersion => Volatile.Read(ref _configVersion);

    public ConfigSet Config => Volatile.Read(ref _config);

    public void SetConfig(ConfigSet config, long configVersion) => Change(() =>
    {
        _config = config;
        _configVersion = configVersion;
    });

    /// <summary>
    /// Replaces the instance list, for a single writer that owns it. A <see cref="ServiceRegistry"/>, whose
    /// changes can race, is connected with <see cref="Follow"/> instead.
    /// </summary>
    public void SetInstances(IReadOnlyList<ServiceInstance> instances) => Change(() => _instances = instances);

    /// <summary>
    /// Publishes the registry's instances now and after each of its changes. The registry raises
    /// <see cref="ServiceRegistry.Changed"/> outside its own lock, so the handlers of two changes close
    /// together (two sidecars registering again after a restart) run in either order; a list read before
    /// taking this publisher's lock could be older than one already published, and would replace it until
    /// the next change. The list is read under the lock instead, so the last publish takes the newest.
    /// </summary>
    public void Follow(ServiceRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _registry = registry;
        Change(() => _instances = Combined());
        registry.Changed += () => Change(() => _instances = Combined());
    }

    /// <summary>
    /// Replaces the instances imported from peered regions, published with the followed registry's own:
    /// a region's callers see both, and a change to either is one publish.
    /// </summary>
    public void SetImported(IReadOnlyList<ServiceInstance> imported) => Change(() =>
    {
        _imported = imported;
        _instances = Combined();
    });

    // Under the lock (called from Change): the registry's newest list and the last imports.
    private IReadOnlyList<ServiceInstance> Combined()
    {
        var own = _registry?.Instances ?? [];
        return _imported.Count == 0 ? own : [.. own, .. _imported];
    }

    public PublishedSnapshot Current
    {
        get
        {
            lock (_gate)
            {
                if (_encoded is null || _encoded.Version != _published.Version)
                {
                    var snapshot = new MeshSnapshot
                    {
                        Version = _published.Version,
                        ConfigVersion = _published.ConfigVersion,
                        CreatedAt = _time.GetUtcNow(),
                        Config = _published.Config,
                        Instances = _published.Instances,
                    };
                    _encoded = new PublishedSnapshot(snapshot, JsonSerializer.SerializeToUtf8Bytes(snapshot, MeshJson.Options));
                }
                return _encoded;
            }
        }
    }

    /// <summary>
    /// Returns the current snapshot at once when its version differs from <paramref name="knownVersion"/>
    /// (newer, or from before a control-plane restart), otherwise waits up to <paramref name="wait"/> for a
    /// change and returns null if none came.
    /// </summary>
    public async Task<PublishedSnapshot?> WaitAsync(long knownVersion, TimeSpan wait, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            // Until this run has published once, its state is not assembled yet (registry restored, config
            // not loaded): everyone waits for the first publish rather than get an empty snapshot.
            if (_everPublished && _published.Version != knownVersion)
            {
                return Current;
            }
            changed = _changed.Task;
        }
        try
        {
            await changed.WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
        return Current;
    }

    private void Change(Action apply)
    {
        lock (_gate)
        {
            apply();
            _version++;
            if (_publishPending)
            {
                return; // the publish already scheduled takes this change along
            }
            _publishPending = true;
        }
        if (_debounce <= TimeSpan.Zero)
        {
            Publish();
        }
        else
        {
            _ = Task.Delay(_debounce, _time).ContinueWith(_ => Publish(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// The JSON of a <see cref="SnapshotDelta"/> from <paramref name="baseVersion"/> to the published
    /// version, or null when that version is unknown here (too old, or from before a restart): then the
    /// watcher needs the full snapshot. Made once per base version and shared.
    /// </summary>
    public (long Version, byte[] Json)? Delta(long baseVersion)
    {
        lock (_gate)
        {
            if (_deltas.TryGetValue(baseVersion, out var cached))
            {
                return cached;
            }
            if (DeltaSince(baseVersion) is not { } delta)
            {
                return null;
            }
            var encoded = (delta.Version, JsonSerializer.SerializeToUtf8Bytes(delta, MeshJson.Options));
            _deltas[baseVersion] = encoded;
            return encoded;
        }
    }

    /// <summary>
    /// What changed from <paramref name="baseVersion"/> to the published version, unencoded (for a scoped
    /// watcher, who gets a part of it), or null when that version is unknown here.
    /// </summary>
    public SnapshotDelta? DeltaSince(long baseVersion)
    {
        lock (_gate)
        {
            var steps = new List<Step>();
            var found = false;
            foreach (var step in _history)
            {
                if (step.From == baseVersion)
                {
                    found = true;
                }
                if (found)
                {
                    steps.Add(step);
                }
            }
            if (!found || steps[^1].To != _published.Version)
            {
                return null;
            }
            var upserts = new Dictionary<string, ServiceInstance>(StringComparer.Ordinal);
            var removed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var step in steps)
            {
                foreach (var instance in step.Upserts)
                {
                    upserts[instance.InstanceId] = instance;
                    removed.Remove(instance.InstanceId);
                }
                foreach (var id in step.Removed)
                {
                    upserts.Remove(id);
                    removed.Add(id);
                }
            }
            return new SnapshotDelta
            {
                Version = _published.Version,
                ConfigVersion = _published.ConfigVersion,
                BaseVersion = baseVersion,
                CreatedAt = _time.GetUtcNow(),
                Config = steps[0].ConfigFrom == _published.ConfigVersion ? null : _published.Config,
                BaseConfigVersion = steps[0].ConfigFrom,
                Upserts = upserts.Values.OrderBy(i => i.InstanceId, StringComparer.Ordinal).ToArray(),
                Removed = removed.Order(StringComparer.Ordinal).ToArray(),
            };
        }
    }

    private void Publish()
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            _publishPending = false;
            _everPublished = true;
            var previous = _published;
            _published = new State(_version, _configVersion, _config, _instances);
            // No delta from the start version: a watcher holding it got it from an earlier run of the
            // control plane, whose instances this one does not know.
            if (_history.Count > 0 || previous.Version != _startVersion)
            {
                _history.AddLast(Diff(previous, _published));
            }
            if (_history.Count > DeltaHistory)
            {
                _history.RemoveFirst();
            }
            _deltas.Clear();
            signal = _changed;
            _changed = NewSignal();
        }
        signal.TrySetResult();
    }

    private static Step Diff(State from, State to)
    {
        var before = new Dictionary<string, ServiceInstance>(from.Instances.Count, StringComparer.Ordinal);
        foreach (var instance in from.Instances)
        {
            before[instance.InstanceId] = instance;
        }
        var upserts = new List<ServiceInstance>();
        foreach (var instance in to.Instances)
        {
            if (!before.Remove(instance.InstanceId, out var old) || !(ReferenceEquals(old, instance) || old == instance))
            {
                upserts.Add(instance);
            }
        }
        return new Step(from.Version, to.Version, from.ConfigVersion, to.ConfigVersion, upserts, before.Keys.ToArray());
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
