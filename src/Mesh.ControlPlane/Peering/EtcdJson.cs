using System.Text.Json;
using Etcdserverpb;
using Google.Protobuf;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Peering;

/// <summary>Records kept on etcd as JSON, one key each, read and written at once (callers hold no copy of their own).</summary>
internal static class EtcdJson
{
    public static IReadOnlyList<T> Range<T>(EtcdConnection etcd, string prefix)
    {
        var range = Call(etcd, (c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd(prefix)) }, o).ResponseAsync);
        return [.. range.Kvs.Select(kv => JsonSerializer.Deserialize<T>(kv.Value.Span, MeshJson.Options)!)];
    }

    public static T? Get<T>(EtcdConnection etcd, string key) where T : class
    {
        var range = Call(etcd, (c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, o).ResponseAsync);
        return range.Kvs.Count == 0 ? null : JsonSerializer.Deserialize<T>(range.Kvs[0].Value.Span, MeshJson.Options);
    }

    public static void Put<T>(EtcdConnection etcd, string key, T value) =>
        Call(etcd, (c, o) => new KV.KVClient(c).PutAsync(new PutRequest
        {
            Key = ByteString.CopyFromUtf8(key),
            Value = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(value, MeshJson.Options)),
        }, o).ResponseAsync);

    /// <summary>False when there was no such key.</summary>
    public static bool Delete(EtcdConnection etcd, string key) =>
        Call(etcd, (c, o) => new KV.KVClient(c).DeleteRangeAsync(new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(key) }, o).ResponseAsync).Deleted > 0;

    // The callers (minimal API handlers, the importer's loop) are synchronous over these few small reads, as join tokens are.
    private static T Call<T>(EtcdConnection etcd, Func<Grpc.Net.Client.GrpcChannel, Grpc.Core.CallOptions, Task<T>> call) =>
        etcd.CallAsync(call, CancellationToken.None).GetAwaiter().GetResult();
}
