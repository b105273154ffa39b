using System.Security.Cryptography;
using System.Text;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// The peerings this control plane holds, kept by <see cref="IPeeringRecords"/>: its data dir, or etcd, where
/// every replica reads and writes the same ones (a peering made through one replica is used by all).
/// </summary>
internal sealed class PeeringStore(IPeeringRecords records)
{
    public IReadOnlyList<Peering> List() => [.. records.All().OrderBy(p => p.Name, StringComparer.Ordinal)];

    public Peering? Get(string name) => records.Find(name);

    /// <summary>Raised after a peering was added, changed or removed through this replica.</summary>
    public event Action? Changed;

    public void Put(Peering peering)
    {
        records.Put(peering);
        Changed?.Invoke();
    }

    public bool Remove(string name)
    {
        if (!records.Remove(name))
        {
            return false;
        }
        Changed?.Invoke();
        return true;
    }

    /// <summary>The peering named <paramref name="name"/> if <paramref name="presented"/> is its secret (compared in constant time).</summary>
    public Peering? Authenticate(string? name, string? presented)
    {
        if (name is null || presented is null || Get(name) is not { } peering)
        {
            return null;
        }
        var a = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        var b = SHA256.HashData(Encoding.UTF8.GetBytes(peering.Secret));
        return CryptographicOperations.FixedTimeEquals(a, b) ? peering : null;
    }

    public static string NewSecret() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}
