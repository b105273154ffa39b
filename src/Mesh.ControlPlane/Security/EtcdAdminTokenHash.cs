using Etcdserverpb;
using Google.Protobuf;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Registry.Etcd;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The mesh admin token's SHA-256 on etcd, <c>/mesh/security/admin-token-sha256</c>: put by the first
/// replica that starts (a transaction creating it only if absent), read by every later one.
/// </summary>
internal static class EtcdAdminTokenHash
{
    public const string Key = "/mesh/security/admin-token-sha256";

    /// <summary>The mesh's hash: <paramref name="local"/> if this replica is the first, else the one stored; waits for etcd as long as it takes.</summary>
    public static byte[] Share(EtcdConnection etcd, byte[] local, ILogger logger)
    {
        var key = ByteString.CopyFromUtf8(Key);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFrom(local) } });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = key } });
        while (true)
        {
            try
            {
                var response = etcd.CallAsync((c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync, CancellationToken.None).GetAwaiter().GetResult();
                return response.Succeeded ? local : response.Responses[0].ResponseRange.Kvs[0].Value.ToByteArray();
            }
            catch (EtcdUnavailableException e)
            {
                Log.EtcdWaiting(logger, e.Message);
            }
        }
    }
}
