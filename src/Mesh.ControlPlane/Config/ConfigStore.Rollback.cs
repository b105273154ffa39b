using Mesh.ControlPlane.Config.History;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Config.Loading;
using Mesh.Core.Hosting;

namespace Mesh.ControlPlane.Config;

/// <summary>What a rollback did: <paramref name="Kept"/> false when the version is not in the history.</summary>
internal sealed record RollbackOutcome(bool Kept, ConfigLoadResult Result, long Version, bool Changed);

internal sealed partial class ConfigStore
{
    private RollbackPins? _rollbackPins;

    private RollbackPins Pins => _rollbackPins ??= new RollbackPins(options.DataDir, logger);

    /// <summary>
    /// Makes a new version that serves the resources of <paramref name="target"/>, validated like any
    /// change against today's config dir and registry; on refusal nothing changes. The config dir is
    /// never written (it is the operator's, edited by hand or by git): the rollback rewrites the applied
    /// layer. A resource of the target that the config dir now holds with the same text comes from the
    /// dir; one it holds otherwise (or not at all) is written to the applied layer, and when the target
    /// had it from the config dir it is pinned until the dir's text of it changes (the next file edit
    /// wins). A resource only the config dir defines, which the target did not have, stays: the answer
    /// warns about it with its file and line.
    /// </summary>
    public RollbackOutcome Rollback(long target, string who = AdminCaller)
    {
        lock (_applyGate)
        {
            if (history.Get(target) is not { } record)
            {
                return new RollbackOutcome(false, new ConfigLoadResult(null, []), Version, false);
            }
            var directory = VersionResources.Of(DirectoryFiles()).ToDictionary(l => l.Resource.Key, StringComparer.Ordinal);
            var wanted = record.Resources.ToDictionary(r => r.Key, StringComparer.Ordinal);
            var applied = record.Resources.Where(r => !directory.TryGetValue(r.Key, out var d) || d.Resource.Yaml != r.Yaml).ToArray();
            var warnings = directory.Values.Where(d => !wanted.ContainsKey(d.Resource.Key)).Select(d => new ConfigError(
                d.Resource.Source, d.Line, d.Column, "metadata.name",
                $"{d.Resource.Key} is defined in the config dir and was not in version {target}; a rollback leaves the config dir's resources in place: remove it from {d.Resource.Source} if it should go",
                ConfigSeverity.Warning)).ToArray();

            // Messages about a restored resource name it as the version's (GET /v1/config/history/{version} shows its text).
            // The applied layer becomes exactly the version's resources the dir does not hold as they were.
            var put = applied.ToDictionary(r => AppliedName(r.Kind, r.Namespace, r.Name), r => r.Yaml, StringComparer.Ordinal);
            var stale = CurrentFiles().Where(f => f.Layer == AppliedLayer && !put.ContainsKey(f.Name)).Select(f => f.Name).ToArray();
            var check = WriteValidated(
                () => ConfigLoader.LoadLayers(
                    [.. DirectoryFiles(), .. applied.Select(r => new ConfigFile($"v{target}/{Path.GetFileName(AppliedName(r.Kind, r.Namespace, r.Name))}", r.Yaml, AppliedLayer))],
                    RegisteredHosts()),
                put, stale);
            if (!check.Succeeded)
            {
                Log.RollbackRefused(logger, target, check.Errors.Count());
                return new RollbackOutcome(true, check with { Problems = [.. check.Problems, .. warnings] }, Version, false);
            }

            // Pinned: what V had from the config dir, or through an earlier rollback's pin.
            Pins.Replace(applied.Where(r => r.Layer is HistoryResource.DirectoryLayer or HistoryResource.PinnedLayer).Select(r =>
                new RollbackPins.RollbackPin(AppliedName(r.Kind, r.Namespace, r.Name), r.Key, RollbackPins.Hash(directory.GetValueOrDefault(r.Key)?.Resource.Yaml))));
            var before = Version;
            var reloaded = Reload(change: new ConfigChange(ConfigChange.Rollback, who, $"to version {target}", target));
            Log.RolledBack(logger, target, Version);
            return new RollbackOutcome(true, reloaded with { Problems = [.. reloaded.Problems, .. warnings] }, Version, Version != before);
        }
    }

    /// <summary>Drops the rollback pins whose resource the config dir now holds with another text than at the rollback.</summary>
    private void DropOutdatedPins()
    {
        lock (_applyGate)
        {
            if (Pins.All.Count == 0)
            {
                return;
            }
            var directory = VersionResources.Of(DirectoryFiles()).ToDictionary(l => l.Resource.Key, l => l.Resource.Yaml, StringComparer.Ordinal);
            var outdated = Pins.All.Where(p => RollbackPins.Hash(directory.GetValueOrDefault(p.Key)) != p.DirectoryHash).ToArray();
            source.WriteApplied(new Dictionary<string, string>(), [.. outdated.Select(p => p.AppliedName)]);
            foreach (var pin in outdated)
            {
                Log.RollbackPinDropped(logger, pin.Key);
            }
            Pins.Forget(outdated.Select(p => p.AppliedName));
        }
    }
}
