using System.Text.Json;
using Mesh.Core.Config.Model;
using Mesh.Core.Scoping;

namespace Mesh.Core.Snapshots;

/// <summary>
/// The snapshots of watchers a Sidecar resource scopes: each scope's part of the published snapshot, cut
/// and encoded once per version and shared by every watcher with that scope, and deltas of that part. A
/// watcher no Sidecar applies to gets the publisher's own (everything visible, as in Istio).
/// </summary>
public sealed class ScopedSnapshots(SnapshotPublisher publisher)
{
    private readonly Lock _gate = new();
    private ConfigSet? _scopesOf;
    private readonly Dictionary<string, SidecarScope> _scopes = new(StringComparer.Ordinal);
    private long _encodedVersion = -1;
    private readonly Dictionary<string, PublishedSnapshot> _full = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Scope, long Base), (long Version, byte[] Json)> _deltas = new();

    /// <summary>The scope of a workload under <paramref name="config"/>, or null when no Sidecar applies to it.</summary>
    public SidecarScope? ScopeFor(ConfigSet config, string ns, string service, IReadOnlyDictionary<string, string> labels)
    {
        if (SidecarSelection.For(config, ns, service, labels) is not { } sidecar)
        {
            return null;
        }
        // A Sidecar applies to its own namespace's workloads, or (the root's default) to every namespace's:
        // either way '.' is the workload's namespace.
        var key = $"{sidecar.Metadata.Namespace}/{sidecar.Metadata.Name}@{ns}";
        lock (_gate)
        {
            if (!ReferenceEquals(_scopesOf, config))
            {
                _scopesOf = config;
                _scopes.Clear();
            }
            if (!_scopes.TryGetValue(key, out var scope))
            {
                _scopes[key] = scope = SidecarScope.Build(config, sidecar, ns);
            }
            return scope;
        }
    }

    /// <summary>The scope's part of <paramref name="current"/>, encoded once per version and scope.</summary>
    public PublishedSnapshot Full(PublishedSnapshot current, SidecarScope scope)
    {
        lock (_gate)
        {
            Forget(current.Version);
            if (!_full.TryGetValue(scope.Wire.Key, out var scoped) || scoped.Version != current.Version)
            {
                var snapshot = scope.Apply(current.Snapshot);
                _full[scope.Wire.Key] = scoped = new PublishedSnapshot(snapshot, JsonSerializer.SerializeToUtf8Bytes(snapshot, MeshJson.Options));
            }
            return scoped;
        }
    }

    /// <summary>
    /// The instances of the scope that changed since <paramref name="baseVersion"/>; null when the watcher
    /// needs the full scoped snapshot: its version is unknown here, or the config changed (which can change
    /// the scope itself, so the watcher gets all it now needs at once).
    /// </summary>
    public (long Version, byte[] Json)? Delta(long baseVersion, SidecarScope scope)
    {
        if (publisher.DeltaSince(baseVersion) is not { Config: null } delta)
        {
            return null;
        }
        lock (_gate)
        {
            Forget(delta.Version);
            if (_deltas.TryGetValue((scope.Wire.Key, baseVersion), out var cached) && cached.Version == delta.Version)
            {
                return cached;
            }
            // Removed ids stay: the instance is gone, so whether it was in scope is unknown, and removing one the
            // watcher never had does nothing.
            var scoped = delta with { Upserts = delta.Upserts.Where(scope.Includes).ToArray() };
            var encoded = (scoped.Version, JsonSerializer.SerializeToUtf8Bytes(scoped, MeshJson.Options));
            _deltas[(scope.Wire.Key, baseVersion)] = encoded;
            return encoded;
        }
    }

    private void Forget(long version)
    {
        if (version > _encodedVersion)
        {
            _encodedVersion = version;
            _full.Clear();
            _deltas.Clear();
        }
    }
}
