using System.Text.Json;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// Peerings in <c>data-dir/peerings.json</c> (0600: it holds each peering's secret), held in memory and written
/// whole (a temporary file renamed over it) before a change is answered, so a restart keeps every peering.
/// </summary>
internal sealed class FilePeeringRecords : IPeeringRecords
{
    private readonly string _path;
    private readonly Lock _gate = new();
    private Dictionary<string, Peering> _peerings;

    public FilePeeringRecords(string dataDir)
    {
        _path = Path.Combine(dataDir, "peerings.json");
        _peerings = File.Exists(_path)
            ? (JsonSerializer.Deserialize<Peering[]>(File.ReadAllText(_path), MeshJson.Options) ?? []).ToDictionary(p => p.Name, StringComparer.Ordinal)
            : new Dictionary<string, Peering>(StringComparer.Ordinal);
    }

    public IReadOnlyList<Peering> All()
    {
        lock (_gate)
        {
            return [.. _peerings.Values];
        }
    }

    public Peering? Find(string name)
    {
        lock (_gate)
        {
            return _peerings.GetValueOrDefault(name);
        }
    }

    public void Put(Peering peering)
    {
        lock (_gate)
        {
            _peerings = new Dictionary<string, Peering>(_peerings, StringComparer.Ordinal) { [peering.Name] = peering };
            Save();
        }
    }

    public bool Remove(string name)
    {
        lock (_gate)
        {
            if (!_peerings.ContainsKey(name))
            {
                return false;
            }
            _peerings = _peerings.Where(p => p.Key != name).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            Save();
            return true;
        }
    }

    private void Save() =>
        SecretFile.Write(_path, JsonSerializer.Serialize(_peerings.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToArray(), MeshJson.Indented));
}
