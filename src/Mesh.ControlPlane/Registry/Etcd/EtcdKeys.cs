namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// The registry's key layout in etcd: one key per instance, <c>/mesh/registry/instances/&lt;instance id&gt;</c>,
/// holding the instance as JSON and attached to that instance's etcd lease. Instance ids are unique
/// mesh-wide already (a Consul or Eureka one carries its agent's id), so the id alone names the key.
/// </summary>
internal static class EtcdKeys
{
    public const string Instances = "/mesh/registry/instances/";

    public static string Instance(string instanceId) => Instances + instanceId;

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
