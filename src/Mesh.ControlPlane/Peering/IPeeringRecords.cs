namespace Mesh.ControlPlane.Peering;

/// <summary>Where peerings (with their secrets) are kept: the data dir with the embedded store, etcd with <c>--store etcd</c>.</summary>
internal interface IPeeringRecords
{
    IReadOnlyList<Peering> All();

    Peering? Find(string name);

    void Put(Peering peering);

    /// <summary>False when there was no peering of that name.</summary>
    bool Remove(string name);
}
