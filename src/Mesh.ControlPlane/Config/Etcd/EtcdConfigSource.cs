using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Config.Loading;

namespace Mesh.ControlPlane.Config.Etcd;

/// <summary>
/// The config on etcd (<c>--store etcd</c>), shared by every replica: the directory layer under
/// <c>/mesh/config/directory/</c>, the applied layer under <c>/mesh/config/applied/</c>, and one mesh-wide
/// version, <c>/mesh/config/version</c>, raised in the same transaction as every change (a write whose
/// replica read an older version fails and is validated again). Every replica holds what etcd holds
/// through one watch and builds its config from that, so all serve the same config under the same number.
/// Only the elected replica (<see cref="ConfigLeader"/>) imports its <c>--config-dir</c> as the directory layer;
/// the others' directories are not read.
/// </summary>
internal sealed class EtcdConfigSource(EtcdConnection etcd, ControlPlaneOptions options, TimeProvider time, ILogger<EtcdConfigSource> logger)
    : BackgroundService, IConfigSource
{
    public const string Prefix = "/mesh/config/";
    private const string DirectoryPrefix = Prefix + "directory/";
    private const string AppliedPrefix = Prefix + "applied/";
    public const string VersionKey = Prefix + "version";
    private static readonly ByteString PrefixKey = ByteString.CopyFromUtf8(Prefix);
    private static readonly ByteString PrefixEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(Prefix));
    private static readonly Metadata RequireLeader = new() { { "hasleader", "true" } };
    private static readonly TimeSpan ReadYourWriteTimeout = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private Dictionary<string, string> _files = new(StringComparer.Ordinal); // key -> text, under the gate
    private long _version;
    private long _versionModRevision;
    private long _revision;
    private TaskCompletionSource _advanced = NewSignal();

    /// <summary>Set by <see cref="ConfigLeader"/>: whether this replica imports its config dir now.</summary>
    public volatile bool IsLeader;

    public bool KeepsAcceptedLocally => false;

    public event Action? Changed;

    /// <summary>Reads the config from etcd, waiting for etcd as long as it takes (a replica must not serve a config it has not read).</summary>
    public void Load(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                ReadAllAsync(cancellationToken).GetAwaiter().GetResult();
                Log.EtcdConfigLoaded(logger, FileCount(), Volatile.Read(ref _version), Volatile.Read(ref _revision));
                return;
            }
            catch (EtcdUnavailableException e)
            {
                Log.EtcdWaiting(logger, e.Message);
            }
        }
    }

    public IReadOnlyList<ConfigFile> Files()
    {
        lock (_gate)
        {
            var directory = IsLeader
                ? ConfigLoader.ReadDirectory(options.ConfigDir).Select(f => new ConfigFile(f.Name, f.Text, ConfigLayers.Directory))
                : _files.Where(f => f.Key.StartsWith(DirectoryPrefix, StringComparison.Ordinal)).Select(f => new ConfigFile(f.Key[DirectoryPrefix.Length..], f.Value, ConfigLayers.Directory));
            var applied = _files.Where(f => f.Key.StartsWith(AppliedPrefix, StringComparison.Ordinal))
                .Select(f => new ConfigFile(FileConfigSource.AppliedFolder + "/" + f.Key[AppliedPrefix.Length..], f.Value, ConfigLayers.Applied));
            return [.. directory.OrderBy(f => f.Name, StringComparer.Ordinal), .. applied.OrderBy(f => f.Name, StringComparer.Ordinal)];
        }
    }

    public bool IsApplied(string name)
    {
        lock (_gate)
        {
            return _files.ContainsKey(AppliedKey(name));
        }
    }

    public long? WriteApplied(IReadOnlyDictionary<string, string> put, IReadOnlyCollection<string> delete) =>
        Write(put.ToDictionary(p => AppliedKey(p.Key), p => p.Value, StringComparer.Ordinal), [.. delete.Select(AppliedKey)]);

    /// <summary>The elected replica stores its directory layer when it differs from etcd's; every replica answers with the version it holds.</summary>
    public long? Publish(IReadOnlyList<ConfigFile> files)
    {
        if (IsLeader)
        {
            var wanted = files.Where(f => f.Layer == ConfigLayers.Directory).ToDictionary(f => DirectoryPrefix + f.Name, f => f.Text, StringComparer.Ordinal);
            Dictionary<string, string> put;
            string[] delete;
            lock (_gate)
            {
                put = wanted.Where(w => !_files.TryGetValue(w.Key, out var text) || text != w.Value).ToDictionary(StringComparer.Ordinal);
                delete = [.. _files.Keys.Where(k => k.StartsWith(DirectoryPrefix, StringComparison.Ordinal) && !wanted.ContainsKey(k))];
            }
            if (put.Count > 0 || delete.Length > 0)
            {
                var version = Write(put, delete);
                Log.EtcdConfigImported(logger, options.ConfigDir, put.Count, delete.Length, version);
                return version;
            }
        }
        return Volatile.Read(ref _version);
    }

    /// <summary>One transaction: the puts and deletes and the next version, if the version is still the one this replica read.</summary>
    private long Write(IReadOnlyDictionary<string, string> put, IReadOnlyCollection<string> delete)
    {
        long expected, next;
        lock (_gate)
        {
            expected = _versionModRevision;
            next = _version + 1;
        }
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare
        {
            Key = ByteString.CopyFromUtf8(VersionKey),
            Target = Compare.Types.CompareTarget.Mod,
            Result = Compare.Types.CompareResult.Equal,
            ModRevision = expected,
        });
        foreach (var (key, text) in put)
        {
            txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(text) } });
        }
        foreach (var key in delete)
        {
            txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(key) } });
        }
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(VersionKey), Value = ByteString.CopyFromUtf8(next.ToString(System.Globalization.CultureInfo.InvariantCulture)) } });
        var response = etcd.CallAsync((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync, CancellationToken.None).GetAwaiter().GetResult();
        WaitApplied(response.Header.Revision);
        if (!response.Succeeded)
        {
            throw new ConfigConflictException($"the config on etcd changed since version {next - 1} was read");
        }
        return next;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        etcd.FollowAsync(WatchAsync, reason => Log.EtcdConfigWatchBroken(logger, Volatile.Read(ref _revision), reason), stoppingToken);

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        using var call = new Watch.WatchClient(etcd.Current).Watch(RequireLeader, cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = PrefixKey, RangeEnd = PrefixEnd, StartRevision = Volatile.Read(ref _revision) + 1 },
        }, cancellationToken).ConfigureAwait(false);
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var response = call.ResponseStream.Current;
            if (response.CompactRevision > 0)
            {
                await ReadAllAsync(cancellationToken).ConfigureAwait(false);
                RaiseChanged();
                return;
            }
            if (response.Canceled)
            {
                throw new InvalidOperationException($"etcd cancelled the config watch: {response.CancelReason}");
            }
            if (response.Events.Count == 0)
            {
                continue;
            }
            lock (_gate)
            {
                var files = new Dictionary<string, string>(_files, StringComparer.Ordinal);
                foreach (var e in response.Events)
                {
                    Apply(files, e.Type == Mvccpb.Event.Types.EventType.Delete, e.Kv);
                }
                _files = files;
            }
            Advance(response.Events.Max(e => e.Kv.ModRevision));
            RaiseChanged();
        }
    }

    private async Task ReadAllAsync(CancellationToken cancellationToken)
    {
        var range = await etcd.CallAsync((c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = PrefixKey, RangeEnd = PrefixEnd }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        lock (_gate)
        {
            _version = 0;
            _versionModRevision = 0;
            foreach (var kv in range.Kvs)
            {
                Apply(files, deleted: false, kv);
            }
            _files = files;
        }
        Advance(range.Header.Revision);
    }

    /// <summary>One key's change, under the gate.</summary>
    private void Apply(Dictionary<string, string> files, bool deleted, Mvccpb.KeyValue kv)
    {
        var key = kv.Key.ToStringUtf8();
        if (key == VersionKey)
        {
            if (!deleted && long.TryParse(kv.Value.ToStringUtf8(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version))
            {
                _version = version;
                _versionModRevision = kv.ModRevision;
            }
            return;
        }
        if (!key.StartsWith(DirectoryPrefix, StringComparison.Ordinal) && !key.StartsWith(AppliedPrefix, StringComparison.Ordinal))
        {
            return; // the leader key and anything else under the prefix
        }
        if (deleted)
        {
            files.Remove(key);
        }
        else
        {
            files[key] = kv.Value.ToStringUtf8();
        }
    }

    /// <summary>Off the watch's thread: a reload may write (the elected replica's import) and wait for this watch to bring it.</summary>
    private void RaiseChanged() => _ = Task.Run(() => Changed?.Invoke());

    private static string AppliedKey(string name) =>
        AppliedPrefix + (name.StartsWith(FileConfigSource.AppliedFolder + "/", StringComparison.Ordinal) ? name[(FileConfigSource.AppliedFolder.Length + 1)..] : name);

    private int FileCount()
    {
        lock (_gate)
        {
            return _files.Count;
        }
    }

    private void Advance(long revision)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            if (revision > _revision)
            {
                _revision = revision;
            }
            signal = _advanced;
            _advanced = NewSignal();
        }
        signal.TrySetResult();
    }

    /// <summary>Waits until the watch has brought this replica's own write (read your writes), or gives up quietly after a while.</summary>
    private void WaitApplied(long revision)
    {
        var deadline = time.GetTimestamp();
        while (Volatile.Read(ref _revision) < revision && time.GetElapsedTime(deadline) < ReadYourWriteTimeout)
        {
            Task advanced;
            lock (_gate)
            {
                advanced = _advanced.Task;
            }
            if (Volatile.Read(ref _revision) >= revision)
            {
                return;
            }
            advanced.Wait(TimeSpan.FromMilliseconds(100));
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
