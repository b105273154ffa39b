using System.Text.Json;
using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Core.Tests.Snapshots;

/// <summary>Scoped watchers: their part of each version, shared per scope, and deltas that stay within the scope.</summary>
public sealed class ScopedSnapshotsTests
{
    private static readonly Dictionary<string, string> NoLabels = new();
    private readonly SnapshotPublisher _publisher = new(new FakeTimeProvider());

    private static ConfigSet Config(string hosts)
    {
        var result = ConfigLoader.Load([("s.yaml", $$$"""
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: frontend, namespace: default}
            spec:
              workloadSelector: {labels: {app: frontend}}
              egress: [{hosts: {{{hosts}}}}]
            """)]);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        return result.Config!;
    }

    private static ServiceInstance Instance(string id, string service) =>
        new() { InstanceId = id, Service = service, Address = "127.0.0.1", Port = 15006, Health = HealthStatus.Healthy };

    [Fact]
    public void ScopeFor_UnscopedWorkload_IsNull_ScopedOnesShareOneSnapshot()
    {
        _publisher.SetConfig(Config("[\"*/reviews.default.svc.cluster.local\"]"), 1);
        _publisher.SetInstances([Instance("reviews-1", "reviews"), Instance("ratings-1", "ratings")]);
        var scoped = new ScopedSnapshots(_publisher);
        var current = _publisher.Current;

        Assert.Null(scoped.ScopeFor(current.Snapshot.Config, current.Snapshot.ConfigVersion, "default", "ratings", NoLabels));
        var a = scoped.Full(current, scoped.ScopeFor(current.Snapshot.Config, current.Snapshot.ConfigVersion, "default", "frontend", NoLabels)!);
        var b = scoped.Full(current, scoped.ScopeFor(current.Snapshot.Config, current.Snapshot.ConfigVersion, "default", "frontend", new Dictionary<string, string> { ["version"] = "v2" })!);

        Assert.Same(a, b);
        Assert.Equal(["reviews-1"], a.Snapshot.Instances.Select(i => i.InstanceId));
        Assert.True(a.Json.Length < current.Json.Length);
        var decoded = JsonSerializer.Deserialize<MeshSnapshot>(a.Json, MeshJson.Options)!;
        Assert.Equal("default/frontend@default", decoded.Scope!.Key);
        Assert.Equal(["reviews-1"], decoded.Instances.Select(i => i.InstanceId));
    }

    [Fact]
    public void Delta_EndpointChanges_CarriesOnlyThoseInScope()
    {
        _publisher.SetConfig(Config("[\"*/reviews.default.svc.cluster.local\"]"), 1);
        var unchanged = Instance("reviews-1", "reviews");
        _publisher.SetInstances([unchanged]);
        var scoped = new ScopedSnapshots(_publisher);
        var baseVersion = _publisher.Version;
        _publisher.SetInstances([unchanged, Instance("reviews-2", "reviews"), Instance("ratings-1", "ratings")]);
        var scope = scoped.ScopeFor(_publisher.Current.Snapshot.Config, _publisher.Current.Snapshot.ConfigVersion, "default", "frontend", NoLabels)!;

        var delta = JsonSerializer.Deserialize<SnapshotDelta>(scoped.Delta(baseVersion, scope)!.Value.Json, MeshJson.Options)!;

        Assert.Equal(["reviews-2"], delta.Upserts.Select(i => i.InstanceId));
        Assert.Null(delta.Config);
        Assert.Equal((_publisher.Version, baseVersion), (delta.Version, delta.BaseVersion));
    }

    [Fact]
    public void Delta_ConfigChanged_IsNull_SoTheWatcherGetsItsWholeNewScope()
    {
        _publisher.SetConfig(Config("[\"*/reviews.default.svc.cluster.local\"]"), 1);
        _publisher.SetInstances([Instance("reviews-1", "reviews"), Instance("ratings-1", "ratings")]);
        var scoped = new ScopedSnapshots(_publisher);
        var baseVersion = _publisher.Version;
        _publisher.SetConfig(Config("[./*]"), 2);
        var current = _publisher.Current;
        var scope = scoped.ScopeFor(current.Snapshot.Config, current.Snapshot.ConfigVersion, "default", "frontend", NoLabels)!;

        Assert.Null(scoped.Delta(baseVersion, scope));
        // ratings was out of scope before; the full scoped snapshot brings it.
        Assert.Equal(["ratings-1", "reviews-1"], scoped.Full(current, scope).Snapshot.Instances.Select(i => i.InstanceId).Order());
    }

    [Fact]
    public void Delta_ConfigChangedOutsideTheScope_CarriesTheScopedConfig()
    {
        var config = Config("[./reviews.default.svc.cluster.local]");
        _publisher.SetConfig(config, 1);
        _publisher.SetInstances([Instance("reviews-1", "reviews")]);
        var scoped = new ScopedSnapshots(_publisher);
        var held = scoped.Full(_publisher.Current, scoped.ScopeFor(config, 1, "default", "frontend", NoLabels)!).Snapshot;
        // A VirtualService for ratings, which frontend does not see: its scope stays the same.
        var ratingsRoute = ConfigLoader.Load([("r.yaml", """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: ratings}
            spec:
              hosts: [ratings]
              http: [{route: [{destination: {host: ratings}}]}]
            """)]).Config!;
        _publisher.SetConfig(config with { VirtualServices = ratingsRoute.VirtualServices }, 2);
        var current = _publisher.Current;
        var scope = scoped.ScopeFor(current.Snapshot.Config, 2, "default", "frontend", NoLabels)!;

        var delta = JsonSerializer.Deserialize<SnapshotDelta>(scoped.Delta(held.Version, scope)!.Value.Json, MeshJson.Options)!;

        Assert.NotNull(delta.Config);
        Assert.Empty(delta.Config.VirtualServices);
        Assert.Empty(delta.Config.Sidecars);
        Assert.Equal(2, delta.ConfigVersion);
        Assert.Equal(held.Scope, delta.ApplyTo(held).Scope);
    }

    [Fact]
    public void Delta_AppliedToTheScopedBase_EqualsTheScopedSnapshot()
    {
        _publisher.SetConfig(Config("[./*]"), 1);
        _publisher.SetInstances([Instance("reviews-1", "reviews")]);
        var scoped = new ScopedSnapshots(_publisher);
        var scope = scoped.ScopeFor(_publisher.Current.Snapshot.Config, _publisher.Current.Snapshot.ConfigVersion, "default", "frontend", NoLabels)!;
        var held = scoped.Full(_publisher.Current, scope).Snapshot;
        _publisher.SetInstances([Instance("reviews-2", "reviews")]);

        var delta = JsonSerializer.Deserialize<SnapshotDelta>(scoped.Delta(held.Version, scope)!.Value.Json, MeshJson.Options)!;
        var patched = delta.ApplyTo(held);

        var full = scoped.Full(_publisher.Current, scope).Snapshot;
        Assert.Equal(full.Instances.Select(i => i.InstanceId), patched.Instances.Select(i => i.InstanceId));
        Assert.Equal(full.Scope, patched.Scope);
    }
}
