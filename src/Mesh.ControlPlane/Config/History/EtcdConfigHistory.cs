using System.Globalization;
using System.Text.Json;
using Etcdserverpb;
using Google.Protobuf;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Config.History;

/// <summary>
/// The history with <c>--store etcd</c>: one key per version, <c>/mesh/history/config/&lt;version, 12 digits&gt;</c>
/// (so keys sort as versions do), shared by every replica. The replica that made a change records it, with
/// how and who; the others serve the version without recording it again (<see cref="ConfigChange.FromAnotherReplica"/>).
/// A version is written only if its key is absent, so two replicas recording one version (at start-up,
/// say) keep the first record, and a later write never rewrites what happened.
/// </summary>
internal sealed class EtcdConfigHistory(EtcdConnection etcd, int capacity) : IConfigHistory
{
    public const string Prefix = "/mesh/history/config/"; // outside /mesh/config/, which the config source watches whole

    public int Capacity { get; } = capacity >= 1 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    public IReadOnlyList<ConfigVersionInfo> List() =>
        [.. Range(new RangeRequest { Key = Key(Prefix), RangeEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(Prefix)), SortOrder = RangeRequest.Types.SortOrder.Descend, SortTarget = RangeRequest.Types.SortTarget.Key })
            .Select(r => r.Info)];

    public ConfigVersionRecord? Get(long version) => Range(new RangeRequest { Key = Key(KeyOf(version)) }).FirstOrDefault();

    public ConfigVersionRecord? Latest() =>
        Range(new RangeRequest { Key = Key(Prefix), RangeEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(Prefix)), SortOrder = RangeRequest.Types.SortOrder.Descend, SortTarget = RangeRequest.Types.SortTarget.Key, Limit = 1 })
            .FirstOrDefault();

    public void Record(ConfigVersionRecord record)
    {
        var key = Key(KeyOf(record.Info.Version));
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(record, MeshJson.Options)) } });
        Call((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync);
        Prune();
    }

    /// <summary>Nothing to drop: a version is recorded only after etcd holds it, so every recorded version was served.</summary>
    public void DropNewerThan(long version)
    {
    }

    private void Prune()
    {
        var keys = Call((c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest
        {
            Key = Key(Prefix), RangeEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(Prefix)), KeysOnly = true,
            SortOrder = RangeRequest.Types.SortOrder.Ascend, SortTarget = RangeRequest.Types.SortTarget.Key,
        }, o).ResponseAsync).Kvs;
        if (keys.Count > Capacity)
        {
            // Everything before the oldest key kept, in one call.
            var firstKept = keys[keys.Count - Capacity].Key;
            Call((c, o) => new KV.KVClient(c).DeleteRangeAsync(new DeleteRangeRequest { Key = Key(Prefix), RangeEnd = firstKept }, o).ResponseAsync);
        }
    }

    private IEnumerable<ConfigVersionRecord> Range(RangeRequest request) =>
        Call((c, o) => new KV.KVClient(c).RangeAsync(request, o).ResponseAsync).Kvs
            .Select(kv => JsonSerializer.Deserialize<ConfigVersionRecord>(kv.Value.Span, MeshJson.Options))
            .OfType<ConfigVersionRecord>()
            .ToArray();

    private static string KeyOf(long version) => Prefix + version.ToString("D12", CultureInfo.InvariantCulture);

    private static ByteString Key(string key) => ByteString.CopyFromUtf8(key);

    private T Call<T>(Func<Grpc.Net.Client.GrpcChannel, Grpc.Core.CallOptions, Task<T>> call) =>
        etcd.CallAsync(call, CancellationToken.None).GetAwaiter().GetResult();
}
