using Mesh.ControlPlane.Peering;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Tests.Peering;

public sealed class FileImportCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mesh-imports-").FullName;

    private static PeerSync Sync(string instance) => new("{\"instances\":1}",
        [new ServiceInstance { InstanceId = $"{instance}@west", Service = "ratings", Address = "10.0.0.2", Port = 443, Peer = "west", Region = "west", Health = HealthStatus.Healthy }],
        false, DateTimeOffset.UnixEpoch, null);

    [Fact]
    public void Save_IsReadBackByTheNextStart_RemoveForgetsIt()
    {
        var cache = new FileImportCache(_dir);
        Assert.Empty(cache.Load());
        cache.Save("west", Sync("ratings-1"));
        cache.Save("south", Sync("ratings-2"));
        cache.Remove("south");

        var kept = new FileImportCache(_dir).Load();
        var west = Assert.Single(kept);
        Assert.Equal("west", west.Key);
        Assert.Equal(Sync("ratings-1").Json, west.Value.Json);
        var instance = Assert.Single(west.Value.Instances);
        Assert.Equal(("ratings-1@west", "west", "west", HealthStatus.Healthy), (instance.InstanceId, instance.Peer, instance.Region, instance.Health));
        Assert.False(File.Exists(Path.Combine(_dir, "peer-imports.json.tmp")), "written through a temporary file renamed over the target");
    }

    [Fact]
    public void Load_OfAFileThatDoesNotParse_FailsOnce_TheNextImportReplacesIt()
    {
        File.WriteAllText(Path.Combine(_dir, "peer-imports.json"), "{\"west\": [not json");
        var cache = new FileImportCache(_dir);
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => cache.Load());
        Assert.Empty(cache.Load());
        cache.Save("west", Sync("ratings-1"));
        Assert.Equal(["west"], new FileImportCache(_dir).Load().Keys);
    }

    [Fact]
    public void AsStale_MarksTheImportAndEveryInstance_KeepingTheLastError()
    {
        var stale = Sync("ratings-1").AsStale("connection refused");
        Assert.True(stale.Stale);
        Assert.All(stale.Instances, i => Assert.True(i.Stale));
        Assert.Equal("connection refused", stale.LastError);
        Assert.Equal("connection refused", stale.AsStale(null).LastError);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
