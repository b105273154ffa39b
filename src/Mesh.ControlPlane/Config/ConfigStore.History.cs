using System.Text.Json;
using Mesh.ControlPlane.Config.History;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Config.Loading;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Config;

internal sealed partial class ConfigStore
{
    /// <summary>Who the history names for a change made through the admin API: the admin token (never its secret).</summary>
    public const string AdminCaller = "admin-token";

    public IConfigHistory History => history;

    private void RecordVersion(long version, IEnumerable<ConfigFile> files, ConfigChange change)
    {
        if (ReferenceEquals(change, ConfigChange.FromAnotherReplica))
        {
            return; // the replica that made it records it, with how and who
        }
        var pinned = Pins.All.Select(p => p.AppliedName).ToHashSet(StringComparer.Ordinal);
        var resources = VersionResources.Of(files).Select(l => pinned.Contains(l.Resource.Source) ? l.Resource with { Layer = HistoryResource.PinnedLayer } : l.Resource).ToArray();
        var previous = history.Latest();
        var changes = ChangeSummary.Between(previous?.Resources ?? [], resources);
        history.Record(new ConfigVersionRecord(
            new ConfigVersionInfo(version, time.GetUtcNow(), change.How, change.Who, change.Detail, changes, change.RolledBackTo), resources));
        Log.ConfigVersionRecorded(logger, version, change.How, change.Who, changes.Added.Count, changes.Removed.Count, changes.Changed.Count);
    }

    /// <summary>
    /// A data dir from before the history (or whose history was lost) serves a version the history does
    /// not hold: it is recorded from the files when they are what is served, so it can be rolled back to.
    /// </summary>
    private void RecordRunningIfMissing()
    {
        if (Version == 0 || history.Get(Version) is not null)
        {
            return;
        }
        var files = CurrentFiles();
        var loaded = ConfigLoader.LoadLayers(files);
        lock (_gate)
        {
            if (loaded.Config is { } config && JsonSerializer.SerializeToUtf8Bytes(config, MeshJson.Options).AsSpan().SequenceEqual(_acceptedJson))
            {
                RecordVersion(Version, files, ConfigChange.DirectoryEdit with { Detail = "running at start-up; the history begins here" });
            }
        }
    }
}
