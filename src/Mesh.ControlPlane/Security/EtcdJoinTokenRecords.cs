using System.Text.Json;
using Etcdserverpb;
using Google.Protobuf;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// Join token records on etcd, one key each, <c>/mesh/security/join-tokens/&lt;id&gt;</c> (the hash, never the
/// secret), read from etcd on every use: a token made on one replica lets a sidecar join on any other,
/// and a revocation on one holds on all at once. Join tokens are used once per sidecar, so the read costs little.
/// </summary>
internal sealed class EtcdJoinTokenRecords(EtcdConnection etcd) : IJoinTokenRecords
{
    public const string Prefix = "/mesh/security/join-tokens/";

    public IReadOnlyList<JoinTokenRecord> All()
    {
        var range = Call((c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(Prefix), RangeEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(Prefix)) }, o).ResponseAsync);
        return [.. range.Kvs.Select(kv => JsonSerializer.Deserialize<JoinTokenRecord>(kv.Value.Span, MeshJson.Options)!)];
    }

    public JoinTokenRecord? Find(string id)
    {
        var range = Call((c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(Prefix + id) }, o).ResponseAsync);
        return range.Kvs.Count == 0 ? null : JsonSerializer.Deserialize<JoinTokenRecord>(range.Kvs[0].Value.Span, MeshJson.Options);
    }

    public void Put(JoinTokenRecord record) =>
        Call((c, o) => new KV.KVClient(c).PutAsync(new PutRequest
        {
            Key = ByteString.CopyFromUtf8(Prefix + record.Id),
            Value = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(record, MeshJson.Options)),
        }, o).ResponseAsync);

    private T Call<T>(Func<Grpc.Net.Client.GrpcChannel, Grpc.Core.CallOptions, Task<T>> call) =>
        etcd.CallAsync(call, CancellationToken.None).GetAwaiter().GetResult();
}
