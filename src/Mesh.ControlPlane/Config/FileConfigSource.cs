using Mesh.ControlPlane.Hosting;
using Mesh.Core.Config.Loading;
using Mesh.Core.Hosting;

namespace Mesh.ControlPlane.Config;

/// <summary>The default source: the config dir, and the applied resources one file each in <c>data-dir/applied/</c>.</summary>
internal sealed class FileConfigSource(ControlPlaneOptions options) : IConfigSource
{
    public const string AppliedFolder = "applied";

    public bool KeepsAcceptedLocally => true;

#pragma warning disable CS0067 // the directory watcher reloads the store itself; nothing else changes files under it
    public event Action? Changed;
#pragma warning restore CS0067

    public IReadOnlyList<ConfigFile> Files()
    {
        var applied = Path.Combine(options.DataDir, AppliedFolder);
        var appliedFiles = Directory.Exists(applied)
            ? Directory.EnumerateFiles(applied, "*.yaml").Order(StringComparer.Ordinal)
                .Select(f => new ConfigFile($"{AppliedFolder}/{Path.GetFileName(f)}", File.ReadAllText(f), ConfigLayers.Applied))
            : [];
        return [.. ConfigLoader.ReadDirectory(options.ConfigDir).Select(f => new ConfigFile(f.Name, f.Text, ConfigLayers.Directory)), .. appliedFiles];
    }

    public bool IsApplied(string name) => File.Exists(Path.Combine(options.DataDir, name));

    public long? WriteApplied(IReadOnlyDictionary<string, string> put, IReadOnlyCollection<string> delete)
    {
        Directory.CreateDirectory(Path.Combine(options.DataDir, AppliedFolder));
        foreach (var (name, text) in put)
        {
            AtomicFile.Write(Path.Combine(options.DataDir, name), System.Text.Encoding.UTF8.GetBytes(text));
        }
        foreach (var name in delete)
        {
            File.Delete(Path.Combine(options.DataDir, name));
        }
        return null;
    }

    public long? Publish(IReadOnlyList<ConfigFile> files) => null;
}

/// <summary>The layers of <see cref="ConfigFile.Layer"/>: later layers replace earlier ones' resources of the same kind, namespace and name.</summary>
internal static class ConfigLayers
{
    public const int Directory = 0;
    public const int Applied = 1;
    public const int Candidate = 2;
}
