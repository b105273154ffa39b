using Mesh.ControlPlane.Registry.Etcd;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// The last import from each peer on etcd, <c>/mesh/peering/imports/&lt;peer&gt;</c>: written by the replica elected
/// to import, read by every other replica (which publishes it to its own sidecars) and by the next one elected.
/// </summary>
internal sealed class EtcdImportCache(EtcdConnection etcd) : IImportCache
{
    public const string Prefix = "/mesh/peering/imports/";

    public IReadOnlyDictionary<string, PeerSync> Load() =>
        EtcdJson.Range<Stored>(etcd, Prefix).ToDictionary(s => s.Peer, s => s.Sync, StringComparer.Ordinal);

    public void Save(string peer, PeerSync sync) => EtcdJson.Put(etcd, Prefix + peer, new Stored(peer, sync));

    public void Remove(string peer) => EtcdJson.Delete(etcd, Prefix + peer);

    /// <summary>The value of one key: which peer (the key's name could be read back too, but this needs no parsing).</summary>
    internal sealed record Stored(string Peer, PeerSync Sync);
}
