using Mesh.Core.Config.Loading;

namespace Mesh.ControlPlane.Config.History;

/// <summary>A resource of a version with where its metadata.name is in its file, for messages that point at it.</summary>
internal sealed record LocatedResource(HistoryResource Resource, int Line, int Column);

/// <summary>The resources a set of layered config files serves, each with its own YAML document.</summary>
internal static class VersionResources
{
    /// <summary>
    /// Each resource of <paramref name="files"/> by kind, namespace and name; one in a higher layer replaces
    /// the lower one, as the loader does. Layer 0 is the config dir, higher layers the applied resources.
    /// </summary>
    public static IReadOnlyList<LocatedResource> Of(IEnumerable<ConfigFile> files)
    {
        var byKey = new Dictionary<string, (LocatedResource Located, int Layer)>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            foreach (var d in ConfigLoader.SplitDocuments(file.Name, file.Text).Documents)
            {
                var layer = file.Layer == 0 ? HistoryResource.DirectoryLayer : HistoryResource.AppliedLayer;
                var resource = new HistoryResource(d.Kind, d.Namespace, d.Name, file.Name, layer, d.Text);
                if (!byKey.TryGetValue(resource.Key, out var kept) || kept.Layer <= file.Layer)
                {
                    byKey[resource.Key] = (new LocatedResource(resource, d.Line, d.Column), file.Layer);
                }
            }
        }
        return [.. byKey.Values.Select(v => v.Located).OrderBy(l => l.Resource.Key, StringComparer.Ordinal)];
    }
}
