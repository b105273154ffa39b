namespace Mesh.ControlPlane.Peering;

/// <summary>
/// The last import from each peer, kept where a restart finds it (the data dir, or etcd where every replica
/// reads what the one importing replica wrote), so that a restart while a peer is down still routes to the
/// peer's last known instances.
/// </summary>
internal interface IImportCache
{
    IReadOnlyDictionary<string, PeerSync> Load();

    void Save(string peer, PeerSync sync);

    void Remove(string peer);
}
