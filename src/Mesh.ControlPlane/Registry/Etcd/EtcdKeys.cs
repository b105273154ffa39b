namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// The registry's key layout in etcd. Each instance has two keys: <c>/mesh/registry/instances/&lt;id&gt;</c>
/// holds the instance as JSON and is on no lease, so it outlives any outage; <c>/mesh/registry/live/&lt;id&gt;</c>
/// is empty and on the instance's etcd lease, which heartbeats keep alive. etcd deletes the live key when the
/// lease runs out; the elected sweeper (<see cref="EtcdLeaseSweeper"/>) then removes the instance. Instance
/// ids are unique mesh-wide already (a Consul or Eureka one carries its agent's id), so the id names the keys.
/// </summary>
internal static class EtcdKeys
{
    public const string Registry = "/mesh/registry/";
    public const string Instances = Registry + "instances/";
    public const string Live = Registry + "live/";

    /// <summary>The key the replica that sweeps lapsed leases holds (<see cref="EtcdElection"/>).</summary>
    public const string SweeperLeader = "/mesh/leaders/registry-sweeper";

    public static string Instance(string instanceId) => Instances + instanceId;

    public static string LiveKey(string instanceId) => Live + instanceId;

    /// <summary>The instance id of a key under <see cref="Live"/>, or null for any other key.</summary>
    public static string? LiveId(string key) =>
        key.StartsWith(Live, StringComparison.Ordinal) && key.Length > Live.Length ? key[Live.Length..] : null;

    /// <summary>The instance id of a key under <see cref="Instances"/>, or null for any other key.</summary>
    public static string? InstanceId(string key) =>
        key.StartsWith(Instances, StringComparison.Ordinal) && key.Length > Instances.Length ? key[Instances.Length..] : null;

    /// <summary>The end of the range of every key starting with <paramref name="prefix"/> (etcd's prefix
    /// convention: the prefix with its last byte incremented).</summary>
    public static byte[] RangeEnd(string prefix)
    {
        var end = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (var i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xff)
            {
                end[i]++;
                return end[..(i + 1)];
            }
        }
        return [0]; // every key
    }

    /// <summary>etcd leases count whole seconds; a TTL is rounded up, and etcd refuses less than 2 s with its default election timeout.</summary>
    public static long LeaseSeconds(TimeSpan ttl) => Math.Max(2, (long)Math.Ceiling(ttl.TotalSeconds));
}
