namespace Mesh.Sidecar.Discovery;

/// <summary>
/// The changes <c>/apps/delta</c> answers, found by comparing each view of the registry with the one
/// before: instances added, modified (status, address, port, metadata) or deleted in the last three
/// minutes (Eureka's <c>retentionTimeInMSInDeltaQueue</c>), the latest change of each. Not thread-safe:
/// <see cref="EurekaAgent"/> calls it under its lock.
/// </summary>
internal sealed class EurekaChangeLog
{
    public static readonly TimeSpan Retention = TimeSpan.FromMinutes(3);

    private Dictionary<string, (EurekaInstance Instance, string Signature)>? _seen;
    private readonly Dictionary<string, (DateTimeOffset At, EurekaInstance Instance, string Action)> _recent = new(StringComparer.Ordinal);

    public IReadOnlyList<(EurekaInstance Instance, string Action)> Observe(IReadOnlyList<EurekaInstance> view, DateTimeOffset now)
    {
        var current = new Dictionary<string, (EurekaInstance Instance, string Signature)>(StringComparer.Ordinal);
        foreach (var instance in view)
        {
            current[Key(instance)] = (instance, Signature(instance));
        }
        // The first view is the baseline: a client's first fetch is a full one, never a delta.
        if (_seen is { } seen)
        {
            foreach (var (key, (instance, signature)) in current)
            {
                if (!seen.TryGetValue(key, out var before))
                {
                    _recent[key] = (now, instance, EurekaJson.Added);
                }
                else if (before.Signature != signature)
                {
                    _recent[key] = (now, instance, EurekaJson.Modified);
                }
            }
            foreach (var (key, before) in seen.Where(s => !current.ContainsKey(s.Key)))
            {
                _recent[key] = (now, before.Instance, EurekaJson.Deleted);
            }
        }
        _seen = current;
        foreach (var key in _recent.Where(r => now - r.Value.At > Retention).Select(r => r.Key).ToList())
        {
            _recent.Remove(key);
        }
        return [.. _recent.Values.OrderBy(r => r.At).Select(r => (r.Instance, r.Action))];
    }

    private static string Key(EurekaInstance i) => $"{i.App}/{i.InstanceId}";

    private static string Signature(EurekaInstance i) =>
        $"{i.EffectiveStatus}|{i.OverriddenStatus}|{i.HostName}|{i.IpAddr}|{i.Port}|{i.VipAddress}|{string.Join(',', i.Metadata.OrderBy(m => m.Key, StringComparer.Ordinal))}";
}
