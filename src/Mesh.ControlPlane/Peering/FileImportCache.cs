using System.Text.Json;
using Mesh.Core.Hosting;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// The last import from each peer in <c>data-dir/peer-imports.json</c>, written whole with <see cref="AtomicFile"/>
/// (a crash leaves the old file or the new one) each time an import changes: seldom, since an unchanged answer is not written.
/// </summary>
internal sealed class FileImportCache(string dataDir) : IImportCache
{
    private readonly string _path = Path.Combine(dataDir, "peer-imports.json");
    private readonly Lock _gate = new();
    private Dictionary<string, PeerSync>? _held;

    public IReadOnlyDictionary<string, PeerSync> Load()
    {
        lock (_gate)
        {
            return new Dictionary<string, PeerSync>(Held(), StringComparer.Ordinal);
        }
    }

    public void Save(string peer, PeerSync sync)
    {
        lock (_gate)
        {
            Held()[peer] = sync;
            Write();
        }
    }

    public void Remove(string peer)
    {
        lock (_gate)
        {
            if (Held().Remove(peer))
            {
                Write();
            }
        }
    }

    private Dictionary<string, PeerSync> Held()
    {
        if (_held is null)
        {
            _held = new Dictionary<string, PeerSync>(StringComparer.Ordinal);
            if (File.Exists(_path))
            {
                // Read once; a file that does not parse throws here, once, and is replaced by the next import.
                _held = new Dictionary<string, PeerSync>(JsonSerializer.Deserialize<Dictionary<string, PeerSync>>(File.ReadAllBytes(_path), MeshJson.Options) ?? [], StringComparer.Ordinal);
            }
        }
        return _held;
    }

    private void Write() => AtomicFile.Write(_path, JsonSerializer.SerializeToUtf8Bytes(_held, MeshJson.Options));
}
