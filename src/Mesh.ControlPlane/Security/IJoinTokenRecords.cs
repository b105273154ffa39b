using System.Text.Json;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Security;

/// <summary>Where join token records (hashes, never secrets) are kept.</summary>
internal interface IJoinTokenRecords
{
    IReadOnlyList<JoinTokenRecord> All();

    JoinTokenRecord? Find(string id);

    /// <summary>Adds or replaces the record of its id; returns once it is stored (a revocation is never lost).</summary>
    void Put(JoinTokenRecord record);
}

/// <summary>The file store's records: data-dir/join-tokens.json, owner-readable only.</summary>
internal sealed class FileJoinTokenRecords : IJoinTokenRecords
{
    private readonly Lock _gate = new();
    private readonly string _path;
    private Dictionary<string, JoinTokenRecord> _tokens;

    public FileJoinTokenRecords(string dataDir)
    {
        _path = Path.Combine(dataDir, "join-tokens.json");
        _tokens = File.Exists(_path)
            ? JsonSerializer.Deserialize<JoinTokenRecord[]>(File.ReadAllText(_path), MeshJson.Options)!.ToDictionary(t => t.Id, StringComparer.Ordinal)
            : new Dictionary<string, JoinTokenRecord>(StringComparer.Ordinal);
    }

    public IReadOnlyList<JoinTokenRecord> All()
    {
        lock (_gate)
        {
            return [.. _tokens.Values];
        }
    }

    public JoinTokenRecord? Find(string id)
    {
        lock (_gate)
        {
            return _tokens.GetValueOrDefault(id);
        }
    }

    public void Put(JoinTokenRecord record)
    {
        lock (_gate)
        {
            var next = new Dictionary<string, JoinTokenRecord>(_tokens, StringComparer.Ordinal) { [record.Id] = record };
            SecretFile.Write(_path, JsonSerializer.Serialize(next.Values.OrderBy(t => t.Created).ToArray(), MeshJson.Indented));
            _tokens = next; // only once it is on disk: a crash never loses an accepted revocation
        }
    }
}
