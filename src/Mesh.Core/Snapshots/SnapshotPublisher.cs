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
    private readonly Lock _gate = new();
    private ConfigSet _config = ConfigSet.Empty;
    private long _configVersion;
    private IReadOnlyList<ServiceInstance> _instances = [];
    private long _version;
    private State _published;
    private bool _publishPending;
    private PublishedSnapshot? _encoded;
    private TaskCompletionSource _changed = NewSignal();

    private sealed record State(long Version, long ConfigVersion, ConfigSet Config, IReadOnlyList<ServiceInstance> Instances);

    /// <param name="debounce">How long after a change it is published; zero publishes each change at once.</param>
    public SnapshotPublisher(TimeProvider time, long startVersion = 0, TimeSpan debounce = default)
    {
        _time = time;
        _debounce = debounce;
        _version = startVersion;
        _published = new State(startVersion, 0, ConfigSet.Empty, []);
    }

    /// <summary>The latest version, published or about to be.</summary>
    public long Version => Volatile.Read(ref _version);

    public long ConfigVersion => Volatile.Read(ref _configVersion);

    public ConfigSet Config => Volatile.Read(ref _config);

    public void SetConfig(ConfigSet config, long configVersion) => Change(() =>
    {
        _config = config;
        _configVersion = configVersion;
    });

    public void SetInstances(IReadOnlyList<ServiceInstance> instances) => Change(() => _instances = instances);

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
            if (_published.Version != knownVersion)
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

    private void Publish()
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            _publishPending = false;
            _published = new State(_version, _configVersion, _config, _instances);
            signal = _changed;
            _changed = NewSignal();
        }
        signal.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
