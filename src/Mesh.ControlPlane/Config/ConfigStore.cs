using Mesh.ControlPlane.Telemetry;
using System.Text.Json;
using Mesh.ControlPlane.Config.History;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Hosting;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Config;

/// <summary>
/// The embedded config store: the YAML directory is the source of truth, with on top of it the
/// resources applied through the admin API (<c>meshctl apply -f</c>), kept one file per resource in
/// <c>data-dir/applied/</c>; an applied resource replaces the directory's resource of the same kind,
/// namespace and name, as <c>kubectl apply</c> replaces what was there. The last accepted config is
/// also kept in the data dir, so a restart while the directory holds a broken edit still serves what
/// was accepted before. Each accepted change gets the next config version, kept with its resources,
/// when, how and by whom in the <see cref="IConfigHistory"/> (for diff and rollback).
/// </summary>
internal sealed partial class ConfigStore(
    ControlPlaneOptions options, IConfigSource source, SnapshotPublisher publisher, ServiceRegistry registry, IConfigHistory history, TimeProvider time, ILogger<ConfigStore> logger)
{
    private const int DirectoryLayer = ConfigLayers.Directory;
    private const int AppliedLayer = ConfigLayers.Applied;
    private const int CandidateLayer = ConfigLayers.Candidate;
    private const string AppliedFolder = FileConfigSource.AppliedFolder;
    private const int ConflictRetries = 5;

    private readonly Lock _gate = new();
    private readonly Lock _reloadGate = new();
    private readonly Lock _applyGate = new();
    private byte[] _acceptedJson = [];

    private string AcceptedPath => Path.Combine(options.DataDir, "config.json");

    public long Version => publisher.ConfigVersion;

    /// <summary>Loads the last accepted config from the data dir, then the directory on top of it.</summary>
    public void Start()
    {
        // Another replica's apply, or the elected replica's import, changed the shared config.
        source.Changed += () => Reload(checkHosts: false, change: ConfigChange.FromAnotherReplica);
        if (source.KeepsAcceptedLocally && File.Exists(AcceptedPath))
        {
            var saved = JsonSerializer.Deserialize<AcceptedConfig>(File.ReadAllBytes(AcceptedPath), MeshJson.Options);
            if (saved is not null)
            {
                _acceptedJson = JsonSerializer.SerializeToUtf8Bytes(saved.Config, MeshJson.Options);
                publisher.SetConfig(saved.Config, saved.Version);
            }
        }
        history.DropNewerThan(Version);
        // At start-up the registry has not heard from the sidecars yet, so hosts are not checked against it.
        Reload(checkHosts: false);
        RecordRunningIfMissing();
    }

    /// <summary>Reads the whole directory; applies it if valid and different, otherwise keeps the running config.</summary>
    /// <param name="change">How the change came about, for the history; an edit of the config dir when not given.</param>
    public ConfigLoadResult Reload(bool checkHosts = true, ConfigChange? change = null)
    {
        // Before the reload gate: pins are dropped under the apply gate, which Apply holds while it reloads.
        DropOutdatedPins();
        lock (_reloadGate)
        {
            return ReloadLocked(checkHosts, change);
        }
    }

    private ConfigLoadResult ReloadLocked(bool checkHosts, ConfigChange? change)
    {
        var files = CurrentFiles();
        var result = ConfigLoader.LoadLayers(files, checkHosts ? RegisteredHosts() : null);
        foreach (var warning in result.Problems.Where(p => p.Severity == ConfigSeverity.Warning))
        {
            Log.ConfigWarning(logger, warning.ToString());
        }
        if (result.Config is null)
        {
            var errors = result.Errors.ToArray();
            Log.ConfigRejected(logger, Version, errors.Length);
            ControlPlaneTelemetry.ConfigLoaded(accepted: false);
            foreach (var error in errors)
            {
                Log.ConfigProblem(logger, error.ToString());
            }
            return result;
        }
        long? stored;
        try
        {
            stored = source.Publish(files);
        }
        catch (Registry.Etcd.EtcdUnavailableException e)
        {
            // The elected replica could not store its directory: nothing changes anywhere, it tries at the next edit or reload.
            Log.ConfigWriteFailed(logger, e.Message);
            return new ConfigLoadResult(null, [new ConfigError(options.ConfigDir, 1, 1, "", $"not imported: {e.Message}")]);
        }
        ControlPlaneTelemetry.ConfigLoaded(accepted: true);
        Accept(result.Config, files, change ?? ConfigChange.DirectoryEdit, stored);
        return result;
    }

    /// <summary>Checks a proposed file against the running config and registry without applying it; it
    /// replaces the directory's file of the same name and every resource it redefines.</summary>
    public ConfigLoadResult Validate(string fileName, string text) =>
        ConfigLoader.LoadLayers(CurrentFiles().Where(f => f.Name != fileName).Append(new ConfigFile(fileName, text, CandidateLayer)), RegisteredHosts());

    /// <summary>
    /// Applies resources like <c>kubectl apply -f</c>: each replaces the resource of the same kind,
    /// namespace and name. The whole file is validated with the rest of the config first (errors point
    /// into the posted file); only then is each resource saved and the config reloaded.
    /// </summary>
    public (ConfigLoadResult Result, IReadOnlyList<ConfigDocument> Applied) Apply(string fileName, string text, string who = AdminCaller)
    {
        lock (_applyGate)
        {
            var (documents, problems) = ConfigLoader.SplitDocuments(fileName, text);
            problems = [.. problems, .. NameProblems(fileName, documents), .. NoDocuments(fileName, documents, problems)];
            if (problems.Count > 0)
            {
                return (new ConfigLoadResult(null, problems), []);
            }
            var check = WriteValidated(
                () => ConfigLoader.LoadLayers(CurrentFiles().Append(new ConfigFile(fileName, text, CandidateLayer)), RegisteredHosts()),
                documents.GroupBy(AppliedName).ToDictionary(g => g.Key, g => g.Last().Text, StringComparer.Ordinal), []); // the same resource twice: the last one, as in order
            if (!check.Succeeded)
            {
                return (check, []);
            }
            foreach (var document in documents)
            {
                Log.ResourceApplied(logger, document.ToString(), fileName);
            }
            // An explicit apply replaces what a rollback put there: a later file edit no longer drops it.
            Pins.Forget(documents.Select(AppliedName));
            // Report what the posted file caused, not every warning the rest of the config carries.
            var reloaded = Reload(change: new ConfigChange(ConfigChange.Apply, who, Described(fileName, documents)));
            return (reloaded.Succeeded ? check with { Problems = check.Problems.Where(p => p.File == fileName).ToArray() } : reloaded, documents);
        }
    }

    /// <summary>
    /// Removes resources applied through the API (<c>meshctl delete -f</c>); the directory's own resource
    /// of that name, if any, applies again. Resources that only the directory defines are edited there.
    /// </summary>
    public (ConfigLoadResult Result, IReadOnlyList<ConfigDocument> Deleted) Delete(string fileName, string text, string who = AdminCaller)
    {
        lock (_applyGate)
        {
            var (documents, problems) = ConfigLoader.SplitDocuments(fileName, text);
            var deleted = new List<ConfigDocument>();
            // The names become a path under applied/: checked as on apply, or a name with '../' in it deletes files elsewhere.
            var problemList = problems.Concat(NameProblems(fileName, documents)).Concat(NoDocuments(fileName, documents, problems)).ToList();
            foreach (var document in documents.Where(Storable))
            {
                if (source.IsApplied(AppliedName(document)))
                {
                    deleted.Add(document);
                }
                else
                {
                    problemList.Add(new ConfigError(fileName, document.Line, document.Column, "metadata.name", $"{document} was not applied through the API, so it cannot be deleted here; "
                        + "resources in the config dir are removed by editing their file"));
                }
            }
            if (problemList.Count > 0)
            {
                return (new ConfigLoadResult(null, problemList), []);
            }
            var check = WriteValidated(
                () => ConfigLoader.LoadLayers(CurrentFiles().Where(f => !deleted.Any(d => AppliedName(d) == f.Name)), RegisteredHosts()),
                new Dictionary<string, string>(), [.. deleted.Select(AppliedName)]);
            if (!check.Succeeded)
            {
                return (check, []);
            }
            foreach (var document in deleted)
            {
                Log.ResourceDeleted(logger, document.ToString());
            }
            Pins.Forget(deleted.Select(AppliedName));
            var reloaded = Reload(change: new ConfigChange(ConfigChange.Delete, who, Described(fileName, deleted)));
            return (reloaded.Succeeded ? new ConfigLoadResult(reloaded.Config, []) : reloaded, deleted);
        }
    }

    /// <summary>The config dir's files and the applied resources, each in its layer.</summary>
    private IReadOnlyList<ConfigFile> CurrentFiles() => source.Files();

    /// <summary>
    /// Validates, then writes the applied layer; when the shared store changed in between (another
    /// replica wrote), validates again against what is there now, so two replicas' writes never combine
    /// into a config nobody validated.
    /// </summary>
    private ConfigLoadResult WriteValidated(Func<ConfigLoadResult> validate, IReadOnlyDictionary<string, string> put, IReadOnlyCollection<string> delete)
    {
        for (var attempt = 1; ; attempt++)
        {
            var check = validate();
            if (!check.Succeeded)
            {
                return check;
            }
            try
            {
                source.WriteApplied(put, delete);
                return check;
            }
            catch (ConfigConflictException) when (attempt < ConflictRetries)
            {
                // The source has caught up with the other write by now (it waits for its watch); check again.
            }
        }
    }

    /// <summary>The config dir's layer, as the source holds it (with etcd: the elected replica's import).</summary>
    private IEnumerable<ConfigFile> DirectoryFiles() => CurrentFiles().Where(f => f.Layer == DirectoryLayer);

    private static string Described(string fileName, IReadOnlyList<ConfigDocument> documents) =>
        $"{fileName}: {string.Join(", ", documents.Select(d => d.ToString()))}";

    /// <summary>
    /// kind.namespace.name.yaml; a name too long for one file name (255 bytes, with AtomicFile's ".tmp")
    /// keeps its first 120 characters and a hash of the whole, after a '~' no DNS name has, so it still
    /// names one resource and is found again by the same name.
    /// </summary>
    private static string AppliedName(ConfigDocument document) => AppliedName(document.Kind, document.Namespace, document.Name);

    private static string AppliedName(string kind, string ns, string name)
    {
        var stem = $"{kind.ToLowerInvariant()}.{ns}.{name}";
        if (stem.Length + ".yaml.tmp".Length > 255)
        {
            var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)))[..16];
            stem = $"{kind.ToLowerInvariant()}.{ns}.{name[..120]}~{hash}";
        }
        return $"{AppliedFolder}/{stem}.yaml";
    }

    private static IEnumerable<ConfigError> NoDocuments(string fileName, IReadOnlyList<ConfigDocument> documents, IReadOnlyList<ConfigError> problems) =>
        documents.Count == 0 && problems.Count == 0 ? [new ConfigError(fileName, 1, 1, "", "no resources in this file")] : [];

    /// <summary>
    /// Applied resources are stored as kind.namespace.name.yaml, so the names must be the DNS names
    /// Kubernetes allows, and the kind and namespace must hold no dot (as Kubernetes namespaces are DNS
    /// labels): otherwise namespace a.b name c and namespace a name b.c would share one file.
    /// </summary>
    private static IEnumerable<ConfigError> NameProblems(string fileName, IEnumerable<ConfigDocument> documents) =>
        documents.Where(d => !Storable(d)).Select(d => new ConfigError(fileName, d.Line, d.Column, "metadata.name",
                $"{Shown(d)}: name must be a lower-case DNS name (a-z, 0-9, '-', '.') of at most 253 characters, namespace a DNS label (a-z, 0-9, '-') of at most 63, and kind a word, as Kubernetes requires"));

    private static string Shown(ConfigDocument d) => d.Name.Length > 80 ? $"{d.Kind} '{d.Name[..60]}...' ({d.Name.Length} characters) in namespace '{d.Namespace}'" : d.ToString();

    private static bool Storable(ConfigDocument d) =>
        d.Name.Length <= 253 && d.Namespace.Length <= 63 && d.Kind.Length <= 63
        && DnsName().IsMatch(d.Name) && DnsLabel().IsMatch(d.Namespace) && KindName().IsMatch(d.Kind);

    [System.Text.RegularExpressions.GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial System.Text.RegularExpressions.Regex DnsName();

    [System.Text.RegularExpressions.GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial System.Text.RegularExpressions.Regex DnsLabel();

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z]+$")]
    private static partial System.Text.RegularExpressions.Regex KindName();

    private HashSet<string> RegisteredHosts() =>
        registry.Instances.Select(i => HostName.Canonical(i.Service, i.Namespace)).ToHashSet(StringComparer.Ordinal);

    /// <summary>Serves <paramref name="config"/> as <paramref name="storedVersion"/> (the shared store's number), or as the next local version, and keeps it in the history.</summary>
    private void Accept(ConfigSet config, IEnumerable<ConfigFile> files, ConfigChange change, long? storedVersion)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(config, MeshJson.Options);
        lock (_gate)
        {
            if (json.AsSpan().SequenceEqual(_acceptedJson))
            {
                return; // an edit that changed nothing routing-relevant (comments, formatting)
            }
            if (storedVersion is { } stored && stored <= Version)
            {
                return; // already serving this version or a newer one (a late reload)
            }
            var version = storedVersion ?? Version + 1;
            // Kept in the history before it is saved as the accepted config: a crash in between leaves a
            // recorded version that was never served, which the next start drops (DropNewerThan).
            RecordVersion(version, files, change);
            if (source.KeepsAcceptedLocally)
            {
                // Saved before it is served: a crash after this point cannot lose an accepted change.
                AtomicFile.Write(AcceptedPath, JsonSerializer.SerializeToUtf8Bytes(new AcceptedConfig(version, config), MeshJson.Options));
            }
            _acceptedJson = json;
            publisher.SetConfig(config, version);
            Log.ConfigAccepted(logger, version, options.ConfigDir, config.VirtualServices.Count, config.DestinationRules.Count, config.ServiceEntries.Count, config.Gateways.Count);
        }
    }

    private sealed record AcceptedConfig(long Version, ConfigSet Config);
}
