using Mesh.ControlPlane.Config;
using Mesh.ControlPlane.Config.History;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.ControlPlane.Tests.Config.History;

/// <summary>
/// The store's history and rollback on real directories: every accepted change recorded with how and who,
/// rollback to an applied version, a refused rollback leaving no trace, a config-dir resource rolled back
/// and then edited in its file (the file edit wins), and the history across a restart and a crash.
/// </summary>
public sealed class ConfigStoreHistoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mesh-store-history-").FullName;

    private string ConfigDir => Path.Combine(_root, "config");
    private string DataDir => Path.Combine(_root, "data");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private const string Subsets = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}

        """;

    private static string Route(string subset) => $$$"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - route: [{destination: {host: reviews, subset: {{{subset}}}}}]

        """;

    private (ConfigStore Store, SnapshotPublisher Publisher) Start()
    {
        Directory.CreateDirectory(ConfigDir);
        var publisher = new SnapshotPublisher(TimeProvider.System);
        var options = new ControlPlaneOptions { ConfigDir = ConfigDir, DataDir = DataDir };
        var store = new ConfigStore(options, new FileConfigSource(options), publisher,
            new ServiceRegistry(new RegistryOptions(), TimeProvider.System), new FileConfigHistory(DataDir, 100, NullLogger.Instance), TimeProvider.System, NullLogger<ConfigStore>.Instance);
        store.Start();
        return (store, publisher);
    }

    private static string? SubsetServed(SnapshotPublisher publisher) =>
        publisher.Config.VirtualServices.SingleOrDefault(v => v.Metadata.Name == "reviews")?.Spec.Http[0].Route[0].Destination?.Subset;

    [Fact]
    public void Rollback_ToAnAppliedVersion_ServesItsResourcesAsANewVersion_RecordedWithHowAndWho()
    {
        var (store, publisher) = Start();
        Assert.True(store.Apply("reviews.yaml", Subsets + "---\n" + Route("v1")).Result.Succeeded);
        var v1 = store.Version;
        Assert.True(store.Apply("reviews.yaml", Route("v2"), "admin-token (dashboard)").Result.Succeeded);
        Assert.Equal("v2", SubsetServed(publisher));

        var outcome = store.Rollback(v1);

        Assert.True(outcome.Result.Succeeded, string.Join('\n', outcome.Result.Errors));
        Assert.True(outcome.Changed);
        Assert.Equal(v1 + 2, store.Version);
        Assert.Equal("v1", SubsetServed(publisher));
        var newest = store.History.List()[0];
        Assert.Equal((store.Version, ConfigChange.Rollback, "admin-token", v1), (newest.Version, newest.How, newest.Who, newest.RolledBackTo));
        Assert.Equal(["VirtualService default/reviews"], newest.Changes.Changed);
        var applyEntry = store.History.Get(v1 + 1)!.Info;
        Assert.Equal((ConfigChange.Apply, "admin-token (dashboard)"), (applyEntry.How, applyEntry.Who));
        Assert.Equal(store.History.Get(v1)!.Resources.Select(r => r.Yaml), store.History.Get(store.Version)!.Resources.Select(r => r.Yaml));
    }

    [Fact]
    public void Rollback_ThatTodaysConfigDirMakesInvalid_IsRefusedWithPositions_AndChangesNothing()
    {
        var (store, publisher) = Start();
        var empty = store.Version;
        Assert.True(store.Apply("reviews.yaml", Subsets + "---\n" + Route("v2")).Result.Succeeded);
        // A file in the config dir now routes to a subset that only the applied DestinationRule defines.
        File.WriteAllText(Path.Combine(ConfigDir, "preview.yaml"), Route("v2").Replace("name: reviews}", "name: preview}", StringComparison.Ordinal).Replace("hosts: [reviews]", "hosts: [preview]", StringComparison.Ordinal));
        Assert.True(store.Reload().Succeeded);
        var (version, json, applied) = (store.Version, Json(publisher), AppliedFiles());

        var outcome = store.Rollback(empty);

        Assert.False(outcome.Result.Succeeded);
        var error = Assert.Single(outcome.Result.Errors);
        Assert.Equal(("preview.yaml", 7, "spec.http[0].route[0].destination.subset"), (error.File, error.Line, error.Path));
        Assert.Contains(outcome.Result.Problems, p => p.File == "preview.yaml" && p.Line == 3 && p.Message.Contains("was not in version", StringComparison.Ordinal));
        Assert.Equal(version, store.Version);
        Assert.Equal(json, Json(publisher));
        Assert.Equal(applied, AppliedFiles());
        Assert.Equal(version, store.History.List()[0].Version);
    }

    [Fact]
    public void Rollback_OfAConfigDirResource_PinsTheOldText_UntilTheNextEditOfItsFile()
    {
        var file = Path.Combine(ConfigDir, "reviews.yaml");
        Directory.CreateDirectory(ConfigDir);
        File.WriteAllText(file, Subsets + "---\n" + Route("v1"));
        var (store, publisher) = Start();
        var v1 = store.Version;
        File.WriteAllText(file, Subsets + "---\n" + Route("v2"));
        Assert.True(store.Reload().Succeeded);
        Assert.Equal(ConfigChange.File, store.History.List()[0].How);
        Assert.Equal("config-dir", store.History.List()[0].Who);

        Assert.True(store.Rollback(v1).Result.Succeeded);
        Assert.Equal("v1", SubsetServed(publisher));
        // A reload of the unchanged directory keeps the rollback.
        store.Reload();
        Assert.Equal("v1", SubsetServed(publisher));
        // A restart too.
        (store, publisher) = Start();
        Assert.Equal("v1", SubsetServed(publisher));

        var rolledBack = store.Version;
        Assert.Equal(HistoryResource.PinnedLayer, store.History.Get(rolledBack)!.Resources.Single(r => r.Kind == "VirtualService").Layer);

        // The next edit of that resource in its file wins over the rollback.
        File.WriteAllText(file, Subsets + "---\n" + Route("v2").Replace("http:", "http: # canary again", StringComparison.Ordinal));
        Assert.True(store.Reload().Succeeded);
        Assert.Equal("v2", SubsetServed(publisher));
        Assert.Empty(AppliedFiles());

        // Rolling back to the version the pin served pins it again, and the next file edit wins again.
        Assert.True(store.Rollback(rolledBack).Result.Succeeded);
        Assert.Equal("v1", SubsetServed(publisher));
        File.WriteAllText(file, Subsets + "---\n" + Route("v2"));
        Assert.True(store.Reload().Succeeded);
        Assert.Equal("v2", SubsetServed(publisher));
        Assert.Empty(AppliedFiles());
    }

    [Fact]
    public void Start_AfterACrashBetweenRecordingAndSaving_DropsTheUnservedVersion_AndKeepsTheRest()
    {
        var (store, _) = Start();
        Assert.True(store.Apply("reviews.yaml", Subsets + "---\n" + Route("v1")).Result.Succeeded);
        var served = store.Version;
        // The crash: the history got version served+1, config.json did not.
        store.History.Record(FileConfigHistoryTests.Version(served + 1));

        var (restarted, publisher) = Start();

        Assert.Equal(served, restarted.Version);
        Assert.Equal(Enumerable.Range(1, (int)served).Select(v => (long)v).Reverse(), restarted.History.List().Select(i => i.Version));
        Assert.Equal("v1", SubsetServed(publisher));
        // The next change takes that number with its own resources.
        Assert.True(restarted.Apply("reviews.yaml", Route("v2")).Result.Succeeded);
        Assert.Contains("subset: v2", restarted.History.Get(served + 1)!.Resources.Single(r => r.Kind == "VirtualService").Yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_WithADamagedPinsFile_ServesThePinnedResourcesAsApplied()
    {
        var file = Path.Combine(ConfigDir, "reviews.yaml");
        Directory.CreateDirectory(ConfigDir);
        File.WriteAllText(file, Subsets + "---\n" + Route("v1"));
        var (store, _) = Start();
        var v1 = store.Version;
        File.WriteAllText(file, Subsets + "---\n" + Route("v2"));
        Assert.True(store.Reload().Succeeded);
        Assert.True(store.Rollback(v1).Result.Succeeded);
        File.WriteAllText(Path.Combine(DataDir, "rollback-pins.json"), "[{\"appliedName\": ");

        var (restarted, publisher) = Start();

        Assert.Equal(store.Version, restarted.Version);
        Assert.Equal("v1", SubsetServed(publisher));
        Assert.True(restarted.Reload().Succeeded);
        Assert.Equal("v1", SubsetServed(publisher));
    }

    private static string Json(SnapshotPublisher publisher) => System.Text.Json.JsonSerializer.Serialize(publisher.Config, MeshJson.Options);

    private string[] AppliedFiles()
    {
        var folder = Path.Combine(DataDir, "applied");
        return Directory.Exists(folder) ? [.. Directory.GetFiles(folder).Select(f => Path.GetFileName(f) + ":" + File.ReadAllText(f)).Order(StringComparer.Ordinal)] : [];
    }
}
