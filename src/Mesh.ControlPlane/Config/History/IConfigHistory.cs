namespace Mesh.ControlPlane.Config.History;

/// <summary>
/// Where accepted config versions are kept, bounded to the newest <see cref="Capacity"/>. The embedded
/// store keeps them in the data dir (<see cref="FileConfigHistory"/>); a store shared by replicas (etcd)
/// implements the same calls. <see cref="ConfigStore"/> records a version before it is served.
/// </summary>
internal interface IConfigHistory
{
    int Capacity { get; }

    /// <summary>The kept versions, newest first, without their resources.</summary>
    IReadOnlyList<ConfigVersionInfo> List();

    /// <summary>A kept version with its resources; null when it was never kept or has been dropped.</summary>
    ConfigVersionRecord? Get(long version);

    /// <summary>The newest kept version, with its resources; null when none is kept.</summary>
    ConfigVersionRecord? Latest();

    /// <summary>Keeps a version (replacing a kept one of the same number) and drops the oldest beyond <see cref="Capacity"/>.</summary>
    void Record(ConfigVersionRecord record);

    /// <summary>
    /// Drops versions newer than <paramref name="version"/>: at start-up, a version recorded just before a
    /// crash that came before it was saved as the accepted config was never served.
    /// </summary>
    void DropNewerThan(long version);
}
