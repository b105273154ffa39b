using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mesh.Core.Security;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// The peerings this control plane holds, in <c>data-dir/peerings.json</c> (0600: it holds each peering's
/// secret). Written before an answer says a change was made, so a restart keeps every peering.
/// </summary>
internal sealed class PeeringStore
{
    private readonly string _path;
    private readonly Lock _gate = new();
    private Dictionary<string, Peering> _peerings;

    public PeeringStore(Hosting.ControlPlaneOptions options)
    {
        _path = Path.Combine(options.DataDir, "peerings.json");
        _peerings = File.Exists(_path)
            ? (JsonSerializer.Deserialize<Peering[]>(File.ReadAllText(_path), Mesh.Core.Snapshots.MeshJson.Options) ?? []).ToDictionary(p => p.Name, StringComparer.Ordinal)
            : new Dictionary<string, Peering>(StringComparer.Ordinal);
    }

    /// <summary>Raised after a peering was added, changed or removed (the importer and the trust bundle follow it).</summary>
    public event Action? Changed;

    public IReadOnlyList<Peering> List()
    {
        lock (_gate)
        {
            return _peerings.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();
        }
    }

    public Peering? Get(string name)
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
        Changed?.Invoke();
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

    private void Save() =>
        SecretFile.Write(_path, JsonSerializer.Serialize(_peerings.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToArray(), Mesh.Core.Snapshots.MeshJson.Indented));
}
