using Mesh.ControlPlane.Config.History;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.ControlPlane.Tests.Config.History;

/// <summary>The history on the data dir: bounded, read back after a restart, and whole after a crash mid-write.</summary>
public sealed class FileConfigHistoryTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("mesh-history-").FullName;

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    private FileConfigHistory Open(int capacity = 5) => new(_dataDir, capacity, NullLogger.Instance);

    internal static ConfigVersionRecord Version(long version, string yaml = "spec: {}\n", string how = ConfigChange.Apply) => new(
        new ConfigVersionInfo(version, DateTimeOffset.UnixEpoch.AddMinutes(version), how, "admin-token", $"change {version}", new ChangeSummary([], [], [])),
        [new HistoryResource("VirtualService", "default", "reviews", "applied/virtualservice.default.reviews.yaml", HistoryResource.AppliedLayer, yaml)]);

    [Fact]
    public void Record_BeyondCapacity_KeepsTheNewest_NewestFirst_AndDeletesTheOldestFiles()
    {
        var history = Open(capacity: 3);
        for (var v = 1; v <= 5; v++)
        {
            history.Record(Version(v));
        }
        Assert.Equal([5L, 4L, 3L], history.List().Select(i => i.Version));
        Assert.Null(history.Get(2));
        Assert.Equal(3, Directory.GetFiles(Path.Combine(_dataDir, "history"), "*.json").Length);
    }

    [Fact]
    public void Open_AfterARestart_HasEveryKeptVersionWithItsResources()
    {
        var history = Open();
        history.Record(Version(1, "a: 1\n"));
        history.Record(Version(2, "a: 2\n", ConfigChange.Rollback));

        var reopened = Open();
        Assert.Equal([2L, 1L], reopened.List().Select(i => i.Version));
        Assert.Equal("a: 1\n", reopened.Get(1)!.Resources.Single().Yaml);
        Assert.Equal(ConfigChange.Rollback, reopened.Latest()!.Info.How);
        Assert.Equal(DateTimeOffset.UnixEpoch.AddMinutes(2), reopened.Get(2)!.Info.At);
    }

    [Fact]
    public void Open_AfterACrashMidWrite_IgnoresTheTornWrite_AndSkipsAnUnreadableFile()
    {
        var history = Open();
        history.Record(Version(1));
        history.Record(Version(2));
        var folder = Path.Combine(_dataDir, "history");
        // A crash while writing version 3: AtomicFile had written part of its temporary file.
        File.WriteAllText(Path.Combine(folder, "000000000003.json.tmp"), "{\"info\":{\"vers");
        // A file damaged on disk (or by hand) is not a version.
        File.WriteAllText(Path.Combine(folder, "000000000002.json"), "{\"info\": [");

        var reopened = Open();
        Assert.Equal([1L], reopened.List().Select(i => i.Version));
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
        reopened.Record(Version(3));
        Assert.Equal([3L, 1L], Open().List().Select(i => i.Version));
    }

    [Fact]
    public void DropNewerThan_RemovesVersionsThatWereNeverServed_AndLatestFallsBack()
    {
        var history = Open();
        history.Record(Version(1, "a: 1\n"));
        history.Record(Version(2, "a: 2\n"));
        history.DropNewerThan(1);
        Assert.Equal([1L], history.List().Select(i => i.Version));
        Assert.Equal("a: 1\n", history.Latest()!.Resources.Single().Yaml);
        Assert.Equal([1L], Open().List().Select(i => i.Version));
    }

    [Fact]
    public void Record_OfAVersionAlreadyKept_ReplacesIt()
    {
        var history = Open();
        history.Record(Version(1, "a: 1\n"));
        history.Record(Version(1, "a: other\n"));
        Assert.Equal("a: other\n", Open().Get(1)!.Resources.Single().Yaml);
    }
}
