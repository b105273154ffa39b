using System.Text.Json;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Snapshots;

public sealed class SnapshotPublisherTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Changes_EachConfigOrEndpointChange_IncrementsVersion()
    {
        var publisher = new SnapshotPublisher(_time, startVersion: 41);

        publisher.SetConfig(ConfigSet.Empty, configVersion: 1);
        publisher.SetInstances([]);

        Assert.Equal(43, publisher.Version);
        Assert.Equal(1, publisher.ConfigVersion);
        Assert.Equal(43, publisher.Current.Version);
    }

    [Fact]
    public async Task WaitAsync_KnownVersionDiffers_ReturnsAtOnce()
    {
        var publisher = new SnapshotPublisher(_time, startVersion: 5);
        publisher.SetInstances([]);

        var older = await publisher.WaitAsync(3, TimeSpan.FromHours(1), CancellationToken.None);
        // A sidecar that saw a higher version before a control-plane restart also gets the current one.
        var newer = await publisher.WaitAsync(9, TimeSpan.FromHours(1), CancellationToken.None);

        Assert.Equal(6, older!.Version);
        Assert.Equal(6, newer!.Version);
    }

    [Fact]
    public async Task WaitAsync_BeforeTheFirstPublish_WaitsInsteadOfServingAnEmptySnapshot()
    {
        // A restarted control plane starts at its saved version with nothing assembled yet; a sidecar
        // holding another version must not get (and route on) an empty snapshot in that moment.
        var publisher = new SnapshotPublisher(_time, startVersion: 5);
        var waiting = publisher.WaitAsync(3, TimeSpan.FromHours(1), CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        publisher.SetInstances([new ServiceInstance { InstanceId = "a", Service = "reviews", Address = "10.0.0.1", Port = 15006, Health = HealthStatus.Healthy }]);
        var snapshot = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(6, snapshot!.Version);
        Assert.Single(snapshot.Snapshot.Instances);
    }

    [Fact]
    public async Task WaitAsync_UpToDate_CompletesWhenAChangeComes()
    {
        var publisher = new SnapshotPublisher(_time, startVersion: 5);

        var waiting = publisher.WaitAsync(5, TimeSpan.FromHours(1), CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        publisher.SetInstances([]);

        var snapshot = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(6, snapshot!.Version);
    }

    [Fact]
    public async Task WaitAsync_NoChangeWithinWait_ReturnsNull()
    {
        var publisher = new SnapshotPublisher(_time, startVersion: 5);

        var waiting = publisher.WaitAsync(5, TimeSpan.FromSeconds(30), CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(31));

        Assert.Null(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Current_SameVersion_EncodesOnceAndRoundTrips()
    {
        var publisher = new SnapshotPublisher(_time);
        publisher.SetInstances([new ServiceInstance { InstanceId = "a", Service = "reviews", Address = "10.0.0.1", Port = 15006, Health = HealthStatus.Healthy }]);

        var first = publisher.Current;
        Assert.Same(first, publisher.Current);

        var decoded = JsonSerializer.Deserialize<MeshSnapshot>(first.Json, MeshJson.Options)!;
        Assert.Equal(first.Version, decoded.Version);
        Assert.Equal(HealthStatus.Healthy, Assert.Single(decoded.Instances).Health);
        Assert.Contains("\"HEALTHY\"", System.Text.Encoding.UTF8.GetString(first.Json), StringComparison.Ordinal);
    }

    [Fact]
    public void Gzip_IsTheSameJsonCompressed_MadeOncePerVersion()
    {
        var publisher = new SnapshotPublisher(_time);
        publisher.SetInstances(Enumerable.Range(0, 200).Select(i => new ServiceInstance
        {
            InstanceId = $"reviews-{i}", Service = "reviews", Address = "10.0.0.1", Port = 15006 + i, Health = HealthStatus.Healthy,
        }).ToArray());
        var current = publisher.Current;

        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(current.Gzip), System.IO.Compression.CompressionMode.Decompress);
        using var json = new MemoryStream();
        gzip.CopyTo(json);
        Assert.Equal(current.Json, json.ToArray());
        Assert.Same(current.Gzip, publisher.Current.Gzip);
        Assert.True(current.Gzip.Length * 5 < current.Json.Length, $"gzip {current.Gzip.Length} bytes vs JSON {current.Json.Length}");
    }

    [Fact]
    public async Task Debounce_ABurstOfChanges_IsOnePublishAfterTheDebounce()
    {
        var publisher = new SnapshotPublisher(_time, startVersion: 5, debounce: TimeSpan.FromMilliseconds(100));
        var waiting = publisher.WaitAsync(5, TimeSpan.FromMinutes(1), CancellationToken.None);
        for (var i = 0; i < 50; i++)
        {
            publisher.SetInstances([new ServiceInstance { InstanceId = $"a{i}", Service = "reviews", Address = "10.0.0.1", Port = 15006, Health = HealthStatus.Healthy }]);
        }
        Assert.Equal(55, publisher.Version);
        Assert.Equal(5, publisher.Current.Version); // nothing published yet
        Assert.Null(await publisher.WaitAsync(5, TimeSpan.Zero, CancellationToken.None));
        Assert.False(waiting.IsCompleted);

        _time.Advance(TimeSpan.FromMilliseconds(100));
        var published = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(55, published!.Version);
        Assert.Equal("a49", Assert.Single(published.Snapshot.Instances).InstanceId);
    }

    private static ServiceInstance Instance(string id, int port = 15006) =>
        new() { InstanceId = id, Service = "reviews", Address = "10.0.0.1", Port = port, Health = HealthStatus.Healthy };

    [Fact]
    public void Delta_FromARecentVersion_CarriesOnlyWhatChanged_AndRebuildsTheSnapshot()
    {
        var publisher = new SnapshotPublisher(_time, startVersion: 10);
        var a = Instance("a");
        var b = Instance("b");
        publisher.SetInstances([a, b]);
        var v1 = publisher.Current;
        publisher.SetInstances([a, Instance("b", 16000), Instance("c")]);
        publisher.SetInstances([Instance("b", 16000), Instance("c")]);
        var latest = publisher.Current;

        var (version, json) = publisher.Delta(v1.Version)!.Value;
        var delta = JsonSerializer.Deserialize<SnapshotDelta>(json, MeshJson.Options)!;
        Assert.Equal((latest.Version, v1.Version), (version, delta.BaseVersion));
        Assert.Equal(["b", "c"], delta.Upserts.Select(i => i.InstanceId));
        Assert.Equal(["a"], delta.Removed);
        Assert.Null(delta.Config); // unchanged config is not resent
        Assert.StartsWith("{\"version\":", System.Text.Encoding.UTF8.GetString(json), StringComparison.Ordinal);

        var rebuilt = delta.ApplyTo(v1.Snapshot);
        Assert.Equal(latest.Snapshot.Instances.Select(i => (i.InstanceId, i.Port)), rebuilt.Instances.Select(i => (i.InstanceId, i.Port)));
        Assert.Equal(latest.Version, rebuilt.Version);
        Assert.Same(json, publisher.Delta(v1.Version)!.Value.Json); // made once per base version
    }

    [Fact]
    public void Delta_FromAnUnknownOrStartVersion_IsNull_SoTheWatcherGetsTheWholeSnapshot()
    {
        var publisher = new SnapshotPublisher(_time, startVersion: 10);
        publisher.SetInstances([Instance("a")]);
        Assert.Null(publisher.Delta(10)); // a watcher at the start version holds an earlier run's instances
        Assert.Null(publisher.Delta(3));
        var v1 = publisher.Current.Version;
        for (var i = 0; i <= SnapshotPublisher.DeltaHistory; i++)
        {
            publisher.SetInstances([Instance("a", 20000 + i)]);
        }
        Assert.Null(publisher.Delta(v1)); // fell out of the history
        Assert.NotNull(publisher.Delta(publisher.Current.Version - 1));
    }

    [Fact]
    public void Delta_AcrossAConfigChange_CarriesTheConfig()
    {
        var publisher = new SnapshotPublisher(_time, startVersion: 1);
        publisher.SetInstances([Instance("a")]);
        var v1 = publisher.Current.Version;
        publisher.SetConfig(ConfigSet.Empty with { }, configVersion: 7);
        var delta = JsonSerializer.Deserialize<SnapshotDelta>(publisher.Delta(v1)!.Value.Json, MeshJson.Options)!;
        Assert.Equal(7, delta.ConfigVersion);
        Assert.NotNull(delta.Config);
        Assert.Empty(delta.Upserts);
    }

    [Fact]
    public void Follow_RegistrationsRacing_LastPublishHasEveryInstance()
    {
        // The registry raises Changed outside its lock, so close registrations' handlers interleave. A fresh-clone
        // CI run caught two sidecars registering again 1 ms apart after a control-plane restart, and the snapshot
        // that went out (and stayed out: nothing changed afterwards) had only one of them.
        const int Writers = 4, PerWriter = 100;
        for (var trial = 0; trial < 150; trial++)
        {
            var registry = new ServiceRegistry(new RegistryOptions(), _time);
            var publisher = new SnapshotPublisher(_time);
            publisher.Follow(registry);
            using var start = new Barrier(Writers);
            var writers = Enumerable.Range(0, Writers).Select(w => new Thread(() =>
            {
                start.SignalAndWait();
                for (var i = 0; i < PerWriter; i++)
                {
                    registry.Register(new Registration { InstanceId = $"w{w}-{i}", Service = "reviews", Address = "10.0.0.1", Port = 15006 + i, Health = HealthStatus.Healthy });
                }
            })).ToArray();
            foreach (var writer in writers)
            {
                writer.Start();
            }
            foreach (var writer in writers)
            {
                writer.Join();
            }

            var published = publisher.Current.Snapshot.Instances.Select(i => i.InstanceId).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(Writers * PerWriter, published.Length);
            Assert.Equal(registry.Instances.Select(i => i.InstanceId).Order(StringComparer.Ordinal), published);
        }
    }
}
