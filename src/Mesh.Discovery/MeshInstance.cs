using System.Text.Json;

namespace Mesh.Discovery;

/// <summary>One healthy instance as the registry lists it.</summary>
public sealed record MeshInstance(string Id, string Address, int Port, IReadOnlyDictionary<string, string> Labels, IReadOnlyList<string> Tags, string? Zone, string? Region)
{
    /// <summary>
    /// Reads a Consul <c>/v1/health/service/:name</c> answer (Mesh's agent API or Consul's own): each
    /// entry's service id, address (the node's when the service has none), port, meta, tags and locality.
    /// </summary>
    public static IReadOnlyList<MeshInstance> ParseHealth(ReadOnlySpan<byte> json)
    {
        using var doc = JsonDocument.Parse(json.ToArray());
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"a health answer is a JSON array, got {doc.RootElement.ValueKind}");
        }
        var instances = new List<MeshInstance>();
        foreach (var entry in doc.RootElement.EnumerateArray())
        {
            var service = entry.GetProperty("Service");
            var address = service.TryGetProperty("Address", out var a) && a.GetString() is { Length: > 0 } own
                ? own
                : entry.GetProperty("Node").GetProperty("Address").GetString()!;
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (service.TryGetProperty("Meta", out var meta) && meta.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in meta.EnumerateObject())
                {
                    labels[property.Name] = property.Value.GetString() ?? "";
                }
            }
            var tags = service.TryGetProperty("Tags", out var t) && t.ValueKind == JsonValueKind.Array
                ? t.EnumerateArray().Select(x => x.GetString() ?? "").ToArray()
                : [];
            string? zone = null, region = null;
            if (service.TryGetProperty("Locality", out var locality) && locality.ValueKind == JsonValueKind.Object)
            {
                zone = locality.TryGetProperty("Zone", out var z) && z.GetString() is { Length: > 0 } zv ? zv : null;
                region = locality.TryGetProperty("Region", out var r) && r.GetString() is { Length: > 0 } rv ? rv : null;
            }
            instances.Add(new MeshInstance(service.GetProperty("ID").GetString()!, address, service.GetProperty("Port").GetInt32(), labels, tags, zone, region));
        }
        return instances;
    }

    /// <summary>The instances <paramref name="options"/> selects: its labels all match; then its zone when any instance is there.</summary>
    public static IReadOnlyList<MeshInstance> Select(IReadOnlyList<MeshInstance> instances, MeshDiscoveryOptions options)
    {
        var matching = instances.Where(i => options.Labels.All(l => i.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToArray();
        if (options.PreferZone is { } zone && matching.Any(i => i.Zone == zone))
        {
            return matching.Where(i => i.Zone == zone).ToArray();
        }
        return matching;
    }
}
