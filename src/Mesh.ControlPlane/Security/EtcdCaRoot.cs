using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Etcdserverpb;
using Google.Protobuf;
using Mesh.ControlPlane.Registry.Etcd;

namespace Mesh.ControlPlane.Security;

/// <summary>
/// The mesh's one root CA on etcd: its certificate at <c>/mesh/security/ca/root.crt</c> and its private key
/// at <c>/mesh/security/ca/root.key.aes-gcm</c>, encrypted with AES-256-GCM under a key derived (SHA-256)
/// from the secret every replica is given in <c>--ca-key-secret-file</c>, the certificate as associated data
/// so key and certificate cannot be swapped apart. Whoever reads etcd without that file learns the
/// certificate, not the key. The first replica to start stores its root (created only if absent, in a
/// transaction); every later one decrypts that root.
/// </summary>
internal static class EtcdCaRoot
{
    public const string CertKey = "/mesh/security/ca/root.crt";
    public const string KeyKey = "/mesh/security/ca/root.key.aes-gcm";
    private const int NonceSize = 12;
    private const int TagSize = 16;

    public static X509Certificate2 Share(EtcdConnection etcd, string secretFile, Func<X509Certificate2> candidate)
    {
        var key = SHA256.HashData(Encoding.UTF8.GetBytes(File.ReadAllText(secretFile).Trim()));
        while (true)
        {
            try
            {
                if (Read(etcd) is { } stored)
                {
                    return Decrypt(stored.Cert, stored.Key, key, secretFile);
                }
                var root = candidate();
                var certPem = root.ExportCertificatePem();
                var keyPem = root.GetECDsaPrivateKey() is { } ec ? ec.ExportPkcs8PrivateKeyPem() : root.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem();
                var txn = new TxnRequest();
                txn.Compare.Add(new Compare { Key = ByteString.CopyFromUtf8(CertKey), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
                txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(CertKey), Value = ByteString.CopyFromUtf8(certPem) } });
                txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(KeyKey), Value = ByteString.CopyFrom(Encrypt(keyPem, certPem, key)) } });
                if (Call(etcd, (c, o) => new KV.KVClient(c).TxnAsync(txn, o).ResponseAsync).Succeeded)
                {
                    return root;
                }
                // Another replica stored its root first: read that one.
            }
            catch (EtcdUnavailableException e)
            {
                Console.Error.WriteLine($"mesh-control-plane: waiting for etcd to read the mesh's root CA: {e.Message}");
            }
        }
    }

    private static (string Cert, byte[] Key)? Read(EtcdConnection etcd)
    {
        var range = Call(etcd, (c, o) => new KV.KVClient(c).RangeAsync(new RangeRequest
        {
            Key = ByteString.CopyFromUtf8("/mesh/security/ca/"),
            RangeEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd("/mesh/security/ca/")),
        }, o).ResponseAsync);
        var cert = range.Kvs.FirstOrDefault(kv => kv.Key.ToStringUtf8() == CertKey);
        var key = range.Kvs.FirstOrDefault(kv => kv.Key.ToStringUtf8() == KeyKey);
        return cert is null || key is null ? null : (cert.Value.ToStringUtf8(), key.Value.ToByteArray());
    }

    private static byte[] Encrypt(string keyPem, string certPem, byte[] key)
    {
        var plain = Encoding.UTF8.GetBytes(keyPem);
        var sealedKey = new byte[NonceSize + TagSize + plain.Length];
        var nonce = sealedKey.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plain, sealedKey.AsSpan(NonceSize + TagSize), sealedKey.AsSpan(NonceSize, TagSize), Encoding.UTF8.GetBytes(certPem));
        return sealedKey;
    }

    private static X509Certificate2 Decrypt(string certPem, byte[] sealedKey, byte[] key, string secretFile)
    {
        if (sealedKey.Length <= NonceSize + TagSize)
        {
            throw new InvalidOperationException($"{KeyKey} on etcd is not an encrypted key ({sealedKey.Length} bytes)");
        }
        var plain = new byte[sealedKey.Length - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(sealedKey.AsSpan(0, NonceSize), sealedKey.AsSpan(NonceSize + TagSize), sealedKey.AsSpan(NonceSize, TagSize), plain, Encoding.UTF8.GetBytes(certPem));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new InvalidOperationException($"--ca-key-secret-file {secretFile} does not decrypt the mesh's root CA key on etcd ({KeyKey}): every replica needs the secret the first replica started with");
        }
        return X509Certificate2.CreateFromPem(certPem, Encoding.UTF8.GetString(plain));
    }

    private static T Call<T>(EtcdConnection etcd, Func<Grpc.Net.Client.GrpcChannel, Grpc.Core.CallOptions, Task<T>> call) =>
        etcd.CallAsync(call, CancellationToken.None).GetAwaiter().GetResult();
}
