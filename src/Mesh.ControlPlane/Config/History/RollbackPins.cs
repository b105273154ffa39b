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
internal sealed partial class RollbackPins(string dataDir, ILogger logger)
{
    private readonly string _path = Path.Combine(dataDir, "rollback-pins.json");
    private volatile List<RollbackPin>? _pins;

    /// <param name="AppliedName">The applied file, <c>applied/kind.namespace.name.yaml</c>.</param>
    /// <param name="DirectoryHash">SHA-256 of the config dir's text of the resource at the rollback; null when the dir had none.</param>
    internal sealed record RollbackPin(string AppliedName, string Key, string? DirectoryHash);

    public IReadOnlyList<RollbackPin> All => Pins;

    private List<RollbackPin> Pins => _pins ??= Load();

    /// <summary>The saved pins; none when the file cannot be read (its resources then stay applied until deleted with meshctl delete).</summary>
    private List<RollbackPin> Load()
    {
        try
        {
            return File.Exists(_path) ? JsonSerializer.Deserialize<List<RollbackPin>>(File.ReadAllBytes(_path), MeshJson.Options) ?? [] : [];
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            Log.UnreadablePins(logger, _path, e.Message);
            return [];
        }
    }

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

    private static partial class Log
    {
        [LoggerMessage(267, LogLevel.Warning, "Rollback pins: {Path} cannot be read ({Reason}); resources a rollback applied stay applied until deleted with meshctl delete")]
        public static partial void UnreadablePins(ILogger logger, string path, string reason);
    }
}
