using Mesh.ControlPlane.Registry.Etcd;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// Peerings on etcd, one key each, <c>/mesh/peering/peerings/&lt;name&gt;</c>, read from etcd on every use: a
/// token generated through one replica is established through any other, and every replica answers the peer
/// with the same secrets. The secret is in the value as the peer must be sent it (unlike a join token's hash):
/// protect etcd with its TLS and users, as for the registry.
/// </summary>
internal sealed class EtcdPeeringRecords(EtcdConnection etcd) : IPeeringRecords
{
    public const string Prefix = "/mesh/peering/peerings/";

    public IReadOnlyList<Peering> All() => EtcdJson.Range<Peering>(etcd, Prefix);

    public Peering? Find(string name) => EtcdJson.Get<Peering>(etcd, Prefix + name);

    public void Put(Peering peering) => EtcdJson.Put(etcd, Prefix + peering.Name, peering);

    public bool Remove(string name) => EtcdJson.Delete(etcd, Prefix + name);
}
