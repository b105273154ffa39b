using DiffPlex.Renderer;

namespace Mesh.ControlPlane.Config.History;

/// <summary>One resource that differs between two versions, with a unified diff of its YAML.</summary>
/// <param name="Change"><c>added</c>, <c>removed</c> or <c>changed</c>.</param>
internal sealed record ResourceDiff(string Kind, string Namespace, string Name, string Change, string? FromSource, string? ToSource, string Diff);

/// <summary>Two versions compared resource by resource (kind, namespace and name), as <c>kubectl diff</c> does.</summary>
internal static class ConfigDiff
{
    private const int ContextLines = 3;

    /// <summary>The resources added, removed and changed from <paramref name="from"/> to <paramref name="to"/>,
    /// by kind, namespace and name; unchanged ones are left out.</summary>
    public static IReadOnlyList<ResourceDiff> Between(IReadOnlyList<HistoryResource> from, IReadOnlyList<HistoryResource> to, long fromVersion, long toVersion)
    {
        var old = from.ToDictionary(r => r.Key, StringComparer.Ordinal);
        var now = to.ToDictionary(r => r.Key, StringComparer.Ordinal);
        var diffs = new List<ResourceDiff>();
        foreach (var key in old.Keys.Union(now.Keys).Order(StringComparer.Ordinal))
        {
            old.TryGetValue(key, out var before);
            now.TryGetValue(key, out var after);
            if (before?.Yaml == after?.Yaml)
            {
                continue; // the same text: a resource that moved between files or layers serves the same
            }
            var any = (after ?? before)!;
            var change = before is null ? "added" : after is null ? "removed" : "changed";
            diffs.Add(new ResourceDiff(any.Kind, any.Namespace, any.Name, change, before?.Source, after?.Source,
                Unified(before?.Yaml ?? "", after?.Yaml ?? "", $"v{fromVersion}/{FileName(any)}", $"v{toVersion}/{FileName(any)}")));
        }
        return diffs;
    }

    /// <summary>A unified diff (<c>diff -u</c>'s format, three lines of context) of two texts, line by line.</summary>
    public static string Unified(string oldText, string newText, string oldName, string newName) =>
        UnidiffRenderer.GenerateUnidiff(Normalized(oldText), Normalized(newText), oldName, newName, ignoreWhitespace: false, ignoreCase: false, ContextLines);

    private static string FileName(HistoryResource r) => $"{r.Kind.ToLowerInvariant()}.{r.Namespace}.{r.Name}.yaml";

    // Documents end with a newline, which the differ would count as one more, empty, line.
    private static string Normalized(string text) => text.TrimEnd('\n');
}
