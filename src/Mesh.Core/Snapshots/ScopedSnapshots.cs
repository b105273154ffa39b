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
    // For every scope key asked for since it first was: its fingerprint, and the config version since which it has had it.
    private readonly Dictionary<string, (string Fingerprint, long Since)> _unchangedSince = new(StringComparer.Ordinal);
    private long _encodedVersion = -1;
    private readonly Dictionary<string, PublishedSnapshot> _full = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Scope, long Base), (long Version, byte[] Json)> _deltas = new();

    /// <summary>The scope of a workload under <paramref name="config"/> (at <paramref name="configVersion"/>), or null when no Sidecar applies to it.</summary>
    public SidecarScope? ScopeFor(ConfigSet config, long configVersion, string ns, string service, IReadOnlyDictionary<string, string> labels)
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
                // Every scope known so far is judged under the new config at once, so no change of one goes unseen
                // while nobody of it watches; a key no Sidecar gives any more is dropped.
                foreach (var known in _unchangedSince.Keys.ToArray())
                {
                    var (name, knownNs) = (known[..known.IndexOf('@')], known[(known.IndexOf('@') + 1)..]);
                    if (config.Sidecars.FirstOrDefault(s => $"{s.Metadata.Namespace}/{s.Metadata.Name}" == name) is { } still)
                    {
                        Track(known, _scopes[known] = SidecarScope.Build(config, still, knownNs), configVersion);
                    }
                    else
                    {
                        _unchangedSince.Remove(known);
                    }
                }
            }
            if (!_scopes.TryGetValue(key, out var scope))
            {
                Track(key, _scopes[key] = scope = SidecarScope.Build(config, sidecar, ns), configVersion);
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
    /// The instances of the scope that changed since <paramref name="baseVersion"/>, and its part of the config
    /// when that changed; null when the watcher needs the full scoped snapshot: its version is unknown here, or
    /// what the scope selects changed since (so the watcher gets all it now needs at once).
    /// </summary>
    public (long Version, byte[] Json)? Delta(long baseVersion, SidecarScope scope)
    {
        if (publisher.DeltaSince(baseVersion) is not { } delta)
        {
            return null;
        }
        lock (_gate)
        {
            if (delta.Config is not null
                && !(ReferenceEquals(delta.Config, scope.Source)
                    && _unchangedSince.TryGetValue(scope.Wire.Key, out var unchanged) && unchanged.Fingerprint == scope.Fingerprint && unchanged.Since <= delta.BaseConfigVersion))
            {
                return null;
            }
            Forget(delta.Version);
            if (_deltas.TryGetValue((scope.Wire.Key, baseVersion), out var cached) && cached.Version == delta.Version)
            {
                return cached;
            }
            // Removed ids stay: the instance is gone, so whether it was in scope is unknown, and removing one the
            // watcher never had does nothing.
            var scoped = delta with { Upserts = delta.Upserts.Where(scope.Includes).ToArray(), Config = delta.Config is null ? null : scope.Config };
            var encoded = (scoped.Version, JsonSerializer.SerializeToUtf8Bytes(scoped, MeshJson.Options));
            _deltas[(scope.Wire.Key, baseVersion)] = encoded;
            return encoded;
        }
    }

    private void Track(string key, SidecarScope scope, long configVersion)
    {
        if (!_unchangedSince.TryGetValue(key, out var known) || known.Fingerprint != scope.Fingerprint)
        {
            _unchangedSince[key] = (scope.Fingerprint, configVersion);
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
