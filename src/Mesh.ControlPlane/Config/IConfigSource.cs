using Mesh.Core.Config.Loading;

namespace Mesh.ControlPlane.Config;

/// <summary>
/// Where <see cref="ConfigStore"/> reads the config from and keeps the applied layer: the config dir and
/// <c>data-dir/applied/</c> (<see cref="FileConfigSource"/>, the default), or etcd, shared by replicas
/// (<see cref="Etcd.EtcdConfigSource"/>). ConfigStore validates; a source only stores and reports.
/// History (every version with who and how) is not a source's job: it hangs off <see cref="ConfigStore"/>'s
/// accepted changes, whatever the source.
/// </summary>
internal interface IConfigSource
{
    /// <summary>The files the config is built from: the directory's (layer 0) and the applied resources (layer 1, named <c>applied/…</c>).</summary>
    IReadOnlyList<ConfigFile> Files();

    /// <summary>Whether an applied resource of this name (<c>applied/kind.namespace.name.yaml</c>) is stored.</summary>
    bool IsApplied(string name);

    /// <summary>
    /// Stores applied resources and removes others, at once; returns the config version the write makes,
    /// or null when this source leaves numbering to the store. Throws <see cref="ConfigConflictException"/>
    /// when the config changed elsewhere since <see cref="Files"/> was read (validate again and retry).
    /// </summary>
    long? WriteApplied(IReadOnlyDictionary<string, string> put, IReadOnlyCollection<string> delete);

    /// <summary>
    /// Called with a validated config's files before it is accepted: the etcd source's elected replica
    /// publishes its directory layer here. Returns the version of what is now stored, or null when the store numbers versions itself.
    /// </summary>
    long? Publish(IReadOnlyList<ConfigFile> files);

    /// <summary>Whether the store keeps the last accepted config in the data dir (the file store) rather than the source holding only valid config (etcd).</summary>
    bool KeepsAcceptedLocally { get; }

    /// <summary>Raised when the stored config changed from elsewhere (another replica's apply, the elected replica's import).</summary>
    event Action? Changed;
}

/// <summary>The config changed in the shared store between reading and writing it.</summary>
internal sealed class ConfigConflictException(string message) : Exception(message);
