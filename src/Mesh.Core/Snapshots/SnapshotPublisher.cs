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
/// Encoding is lazy: a burst of registry changes costs one encoding, when a watcher next asks.
/// </summary>
public sealed class SnapshotPublisher
{
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private ConfigSet _config = ConfigSet.Empty;
    private long _configVersion;
    private IReadOnlyList<ServiceInstance> _instances = [];
    private long _version;
    private PublishedSnapshot? _encoded;
    private TaskCompletionSource _changed = NewSignal();

    public SnapshotPublisher(TimeProvider time, long startVersion = 0)
    {
        _time = time;
        _version = startVersion;
    }

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
                if (_encoded is null || _encoded.Version != _version)
                {
                    var snapshot = new MeshSnapshot
                    {
                        Version = _version,
                        ConfigVersion = _configVersion,
                        CreatedAt = _time.GetUtcNow(),
                        Config = _config,
                        Instances = _instances,
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
            if (_version != knownVersion)
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
        TaskCompletionSource signal;
        lock (_gate)
        {
            apply();
            _version++;
            signal = _changed;
            _changed = NewSignal();
        }
        signal.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
