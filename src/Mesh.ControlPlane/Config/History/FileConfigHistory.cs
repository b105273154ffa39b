using System.Globalization;
using System.Text.Json;
using Mesh.Core.Hosting;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Config.History;

/// <summary>
/// The history on the embedded store: one JSON file per version in <c>data-dir/history/</c>, each written
/// with <see cref="AtomicFile"/> (a temporary file renamed over the target), so a crash leaves either the
/// whole version or none of it. The list is held in memory; a version's resources are read from its file
/// when asked for. A file that cannot be read (a disk error, a hand edit) is skipped with a warning.
/// </summary>
internal sealed partial class FileConfigHistory : IConfigHistory
{
    private const string Folder = "history";

    private readonly Lock _gate = new();
    private readonly string _directory;
    private readonly ILogger _logger;
    private readonly SortedList<long, ConfigVersionInfo> _versions = [];
    private ConfigVersionRecord? _latest;

    public FileConfigHistory(string dataDir, int capacity, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _logger = logger;
        _directory = Path.Combine(dataDir, Folder);
        Directory.CreateDirectory(_directory);
        foreach (var temp in Directory.EnumerateFiles(_directory, "*.tmp"))
        {
            File.Delete(temp); // a write a crash interrupted: its version was never recorded
        }
        foreach (var file in Directory.EnumerateFiles(_directory, "*.json"))
        {
            if (Read(file) is { } record)
            {
                _versions[record.Info.Version] = record.Info;
            }
        }
        _latest = _versions.Count > 0 ? Get(_versions.Keys[^1]) : null;
        Prune();
    }

    public int Capacity { get; }

    public IReadOnlyList<ConfigVersionInfo> List()
    {
        lock (_gate)
        {
            return [.. _versions.Values.Reverse()];
        }
    }

    public ConfigVersionRecord? Get(long version)
    {
        lock (_gate)
        {
            if (_latest?.Info.Version == version)
            {
                return _latest;
            }
            return _versions.ContainsKey(version) ? Read(PathOf(version)) : null;
        }
    }

    public ConfigVersionRecord? Latest()
    {
        lock (_gate)
        {
            return _latest;
        }
    }

    public void Record(ConfigVersionRecord record)
    {
        lock (_gate)
        {
            AtomicFile.Write(PathOf(record.Info.Version), JsonSerializer.SerializeToUtf8Bytes(record, MeshJson.Options));
            _versions[record.Info.Version] = record.Info;
            if (_latest is null || record.Info.Version >= _latest.Info.Version)
            {
                _latest = record;
            }
            Prune();
        }
    }

    public void DropNewerThan(long version)
    {
        lock (_gate)
        {
            foreach (var newer in _versions.Keys.Where(v => v > version).ToArray())
            {
                File.Delete(PathOf(newer));
                _versions.Remove(newer);
                Log.UnservedVersionDropped(_logger, newer);
            }
            if (_latest is { } latest && latest.Info.Version > version)
            {
                _latest = _versions.Count > 0 ? Read(PathOf(_versions.Keys[^1])) : null;
            }
        }
    }

    private void Prune()
    {
        while (_versions.Count > Capacity)
        {
            File.Delete(PathOf(_versions.Keys[0]));
            _versions.RemoveAt(0);
        }
    }

    private string PathOf(long version) => Path.Combine(_directory, version.ToString("D12", CultureInfo.InvariantCulture) + ".json");

    private ConfigVersionRecord? Read(string file)
    {
        try
        {
            var record = JsonSerializer.Deserialize<ConfigVersionRecord>(File.ReadAllBytes(file), MeshJson.Options);
            if (record?.Info is null || record.Resources is null || PathOf(record.Info.Version) != file)
            {
                throw new JsonException("not a config version, or not the version its name says");
            }
            return record;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            Log.UnreadableVersion(_logger, file, e.Message);
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(261, LogLevel.Warning, "Config history: skipping {File}, which cannot be read: {Reason}")]
        public static partial void UnreadableVersion(ILogger logger, string file, string reason);

        [LoggerMessage(262, LogLevel.Information, "Config history: dropped version {Version}, recorded but never served (the control plane stopped before saving it)")]
        public static partial void UnservedVersionDropped(ILogger logger, long version);
    }
}
