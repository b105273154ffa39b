using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mesh.Core.Hosting;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Config.History;

/// <summary>
/// Resources a rollback wrote into the applied layer because the config dir now holds another text of
/// them (or none). Each remembers what the config dir held at the rollback; once the config dir's text of
/// that resource changes, the next file edit wins and the pin is dropped (as GitOps users expect the next
/// commit to win over a manual rollback). Kept in <c>data-dir/rollback-pins.json</c>.
/// </summary>
internal sealed class RollbackPins(string dataDir)
{
    private readonly string _path = Path.Combine(dataDir, "rollback-pins.json");
    private volatile List<RollbackPin>? _pins;

    /// <param name="AppliedName">The applied file, <c>applied/kind.namespace.name.yaml</c>.</param>
    /// <param name="DirectoryHash">SHA-256 of the config dir's text of the resource at the rollback; null when the dir had none.</param>
    internal sealed record RollbackPin(string AppliedName, string Key, string? DirectoryHash);

    public IReadOnlyList<RollbackPin> All => Pins;

    private List<RollbackPin> Pins => _pins ??= File.Exists(_path)
        ? JsonSerializer.Deserialize<List<RollbackPin>>(File.ReadAllBytes(_path), MeshJson.Options) ?? []
        : [];

    public static string? Hash(string? text) => text is null ? null : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Replaces every pin (a rollback decides the whole applied layer).</summary>
    public void Replace(IEnumerable<RollbackPin> pins)
    {
        _pins = [.. pins];
        Save();
    }

    public void Forget(IEnumerable<string> appliedNames)
    {
        var names = appliedNames.ToHashSet(StringComparer.Ordinal);
        var kept = Pins.Where(p => !names.Contains(p.AppliedName)).ToList();
        if (kept.Count < Pins.Count)
        {
            _pins = kept; // a new list, never changed in place: the history reads pins while a rollback writes them
            Save();
        }
    }

    private void Save()
    {
        if (_pins is { Count: 0 } && !File.Exists(_path))
        {
            return;
        }
        AtomicFile.Write(_path, JsonSerializer.SerializeToUtf8Bytes(_pins, MeshJson.Options));
    }
}
