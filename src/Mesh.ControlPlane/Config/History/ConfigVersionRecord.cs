namespace Mesh.ControlPlane.Config.History;

/// <summary>One resource of a config version as the operator wrote it: its YAML document and where it came from.</summary>
/// <param name="Source">The file it was read from: a config dir file, or <c>applied/…</c> for a resource applied through the API.</param>
/// <param name="Layer"><c>config-dir</c>, <c>applied</c>, or <c>pinned</c>: applied by a rollback until the config dir's file of it is edited.</param>
internal sealed record HistoryResource(string Kind, string Namespace, string Name, string Source, string Layer, string Yaml)
{
    public const string DirectoryLayer = "config-dir";
    public const string AppliedLayer = "applied";
    public const string PinnedLayer = "pinned";

    public string Key => $"{Kind} {Namespace}/{Name}";
}

/// <summary>Which resources a version added, removed and changed against the version before it.</summary>
internal sealed record ChangeSummary(IReadOnlyList<string> Added, IReadOnlyList<string> Removed, IReadOnlyList<string> Changed)
{
    public static ChangeSummary Between(IReadOnlyList<HistoryResource> before, IReadOnlyList<HistoryResource> after)
    {
        var old = before.ToDictionary(r => r.Key, StringComparer.Ordinal);
        var now = after.ToDictionary(r => r.Key, StringComparer.Ordinal);
        return new ChangeSummary(
            [.. now.Keys.Where(k => !old.ContainsKey(k)).Order(StringComparer.Ordinal)],
            [.. old.Keys.Where(k => !now.ContainsKey(k)).Order(StringComparer.Ordinal)],
            [.. now.Where(n => old.TryGetValue(n.Key, out var o) && o.Yaml != n.Value.Yaml).Select(n => n.Key).Order(StringComparer.Ordinal)]);
    }
}

/// <summary>What the history lists of a version: when, how and by whom it was made, and what it changed.</summary>
/// <param name="RolledBackTo">For a rollback, the version whose resources it restored.</param>
internal sealed record ConfigVersionInfo(long Version, DateTimeOffset At, string How, string Who, string? Detail, ChangeSummary Changes, long? RolledBackTo = null);

/// <summary>A kept config version: its entry and every resource it served.</summary>
internal sealed record ConfigVersionRecord(ConfigVersionInfo Info, IReadOnlyList<HistoryResource> Resources);
