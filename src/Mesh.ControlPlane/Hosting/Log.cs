using Microsoft.Extensions.Logging;

namespace Mesh.ControlPlane.Hosting;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Registered {InstanceId} of {Service}.{Namespace} at {Address}:{Port} ({Health})")]
    public static partial void Registered(ILogger logger, string instanceId, string service, string @namespace, string address, int port, string health);

    [LoggerMessage(2, LogLevel.Information, "Deregistered {InstanceId}")]
    public static partial void Deregistered(ILogger logger, string instanceId);

    [LoggerMessage(3, LogLevel.Warning, "Lease of {InstanceId} ({Service}.{Namespace} at {Address}:{Port}) expired; removed from the routing set")]
    public static partial void LeaseExpired(ILogger logger, string instanceId, string service, string @namespace, string address, int port);

    [LoggerMessage(4, LogLevel.Information, "Config version {ConfigVersion} accepted from {Directory}: {VirtualServices} VirtualService(s), {DestinationRules} DestinationRule(s), {ServiceEntries} ServiceEntry(s), {Gateways} Gateway(s)")]
    public static partial void ConfigAccepted(ILogger logger, long configVersion, string directory, int virtualServices, int destinationRules, int serviceEntries, int gateways);

    [LoggerMessage(5, LogLevel.Error, "Config change rejected; still serving config version {ConfigVersion}. {Count} problem(s) follow")]
    public static partial void ConfigRejected(ILogger logger, long configVersion, int count);

    [LoggerMessage(11, LogLevel.Error, "Config error: {Problem}")]
    public static partial void ConfigProblem(ILogger logger, string problem);

    [LoggerMessage(6, LogLevel.Warning, "Config warning: {Problem}")]
    public static partial void ConfigWarning(ILogger logger, string problem);

    [LoggerMessage(7, LogLevel.Warning, "Sidecar {Node} rejected snapshot {Version}: {Reason}")]
    public static partial void SnapshotRejected(ILogger logger, string node, long version, string reason);

    [LoggerMessage(8, LogLevel.Information, "Restored {Count} instance(s) and version {Version} from {Path}")]
    public static partial void StateRestored(ILogger logger, int count, long version, string path);

    [LoggerMessage(9, LogLevel.Error, "Could not save state to {Path}")]
    public static partial void StateSaveFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(10, LogLevel.Information, "Mesh control plane: sidecar API https://{Listen}:{Port}, admin API http://127.0.0.1:{AdminPort} (token in {AdminTokenPath}), root CA {RootPath}, trust domain {TrustDomain}")]
    public static partial void Started(ILogger logger, string listen, int port, int adminPort, string rootPath, string trustDomain, string adminTokenPath);

    [LoggerMessage(20, LogLevel.Information, "Applied {Resource} from {File} through the admin API")]
    public static partial void ResourceApplied(ILogger logger, string resource, string file);

    [LoggerMessage(21, LogLevel.Information, "Deleted applied {Resource} through the admin API")]
    public static partial void ResourceDeleted(ILogger logger, string resource);

    [LoggerMessage(30, LogLevel.Warning, "Refused {Status} {Method} {Path} from {Remote}: {Reason}")]
    public static partial void Refused(ILogger logger, int status, string method, string path, string remote, string reason);

    [LoggerMessage(31, LogLevel.Information, "Issued workload certificate {Serial} for {Identity}, valid until {NotAfter:u} ({How})")]
    public static partial void CertificateIssued(ILogger logger, string serial, string identity, DateTime notAfter, string how);

    [LoggerMessage(32, LogLevel.Information, "Join token {Id} created for {Scope}")]
    public static partial void JoinTokenCreated(ILogger logger, string id, string scope);

    [LoggerMessage(33, LogLevel.Information, "Join token {Id} revoked")]
    public static partial void JoinTokenRevoked(ILogger logger, string id);

    [LoggerMessage(34, LogLevel.Warning, "Mass-expiry protection: {Lapsing} of {Total} leases lapsed, expired or late (not renewed for two heartbeat intervals) within one lease TTL (over {Threshold:P0}; {RecentlyExpired} already expired); holding the {Lapsed} lapsed now up to {Hold} while heartbeats catch up, since this many instances rarely die together (an overloaded control plane or a partition is likelier)")]
    public static partial void LeaseExpiryHeld(ILogger logger, int lapsing, int total, double threshold, int recentlyExpired, int lapsed, TimeSpan hold);

    [LoggerMessage(35, LogLevel.Information, "Mass-expiry protection over after {Held}: {Expired} lease(s) expired now, the rest were renewed")]
    public static partial void LeaseExpiryResumed(ILogger logger, TimeSpan held, int expired);

    [LoggerMessage(36, LogLevel.Information, "No saved registry state in {DataDir}: sidecars that were connected to an earlier run get their first snapshot after {Grace}, once their instances have had time to register again; new sidecars are answered at once")]
    public static partial void RegistryWarmingUp(ILogger logger, string dataDir, TimeSpan grace);

    [LoggerMessage(37, LogLevel.Warning, "Instance {InstanceId} marked unhealthy: its sidecar's watch connection closed abnormally and did not come back within {Grace}; its next heartbeat restores it if it lives")]
    public static partial void MarkedUnreachable(ILogger logger, string instanceId, TimeSpan grace);

    [LoggerMessage(40, LogLevel.Warning, "Limited {Status} {Method} {Path} from {Remote}: {Reason}. Unlogged refusals by this limit since its previous line: {Suppressed} (one line per limit at most every {Interval}; all are counted in mesh_cp_requests_limited_total)")]
    public static partial void Limited(ILogger logger, int status, string method, string path, string remote, string reason, int suppressed, TimeSpan interval);

    [LoggerMessage(41, LogLevel.Information, "Registry on etcd ({Endpoints}): {Count} instance(s) at revision {Revision}; following it with a watch")]
    public static partial void EtcdRegistryLoaded(ILogger logger, int count, long revision, string endpoints);

    [LoggerMessage(42, LogLevel.Warning, "Waiting for etcd before serving: {Reason}")]
    public static partial void EtcdWaiting(ILogger logger, string reason);

    [LoggerMessage(43, LogLevel.Warning, "etcd watch of the registry broke at revision {Revision} ({Reason}); watching again from there on the next member")]
    public static partial void EtcdWatchBroken(ILogger logger, string reason, long revision);

    [LoggerMessage(44, LogLevel.Warning, "etcd compacted the registry's history past revision {Revision} (to {CompactRevision}); reading every instance again")]
    public static partial void EtcdCompacted(ILogger logger, long revision, long compactRevision);

    [LoggerMessage(45, LogLevel.Information, "Instance {InstanceId} left the registry in etcd (deregistered, or its lease expired) at revision {Revision}")]
    public static partial void EtcdInstanceRemoved(ILogger logger, string instanceId, long revision);

    [LoggerMessage(46, LogLevel.Error, "etcd key {Key} does not hold an instance: {Reason}")]
    public static partial void EtcdBadValue(ILogger logger, string key, string reason);

    [LoggerMessage(47, LogLevel.Warning, "Registry write refused: {Reason}")]
    public static partial void RegistryWriteFailed(ILogger logger, string reason);

    [LoggerMessage(48, LogLevel.Information, "Elected to sweep lapsed leases: {Replica} removes instances whose etcd lease ran out; {Orphans} instance(s) had no live lease on taking office and have {Grace} to heartbeat")]
    public static partial void SweeperElected(ILogger logger, string replica, int orphans, TimeSpan grace);

    [LoggerMessage(49, LogLevel.Warning, "No longer the replica sweeping lapsed leases ({Replica}): {Reason}")]
    public static partial void SweeperLost(ILogger logger, string replica, string reason);

    [LoggerMessage(52, LogLevel.Information, "This replica's etcd session is lease {Lease} (TTL {Ttl}): the live keys of the instances that heartbeat through it are on it")]
    public static partial void EtcdSessionGranted(ILogger logger, long lease, TimeSpan ttl);

    [LoggerMessage(53, LogLevel.Warning, "etcd did not confirm this replica's session (lease {Lease}): {Reason}; heartbeats are refused until it does, so sidecars move to a replica that reaches etcd")]
    public static partial void EtcdSessionUnconfirmed(ILogger logger, long lease, string reason);

    [LoggerMessage(54, LogLevel.Warning, "This replica's etcd session (lease {Lease}) ran out while it was cut off from etcd; the live keys of the {Count} instance(s) it keeps alive are put again on the new session, lease {Renewed}")]
    public static partial void EtcdSessionLost(ILogger logger, long lease, long renewed, int count);

    [LoggerMessage(51, LogLevel.Information, "The etcd lease of {InstanceId} had lapsed while it stayed registered (no replica's session held its live key); a heartbeat put it on this replica's session")]
    public static partial void EtcdLeaseReattached(ILogger logger, string instanceId);

    // Config history and rollback: 263-269 (261-262 are FileConfigHistory's).
    [LoggerMessage(263, LogLevel.Information, "Config version {ConfigVersion} recorded in the history: {How} by {Who}; {Added} added, {Removed} removed, {Changed} changed")]
    public static partial void ConfigVersionRecorded(ILogger logger, long configVersion, string how, string who, int added, int removed, int changed);

    [LoggerMessage(264, LogLevel.Warning, "Rollback to config version {Target} refused: {Count} error(s); the running config is unchanged")]
    public static partial void RollbackRefused(ILogger logger, long target, int count);

    [LoggerMessage(265, LogLevel.Information, "Rolled back to the resources of config version {Target}; serving config version {ConfigVersion}")]
    public static partial void RolledBack(ILogger logger, long target, long configVersion);

    [LoggerMessage(266, LogLevel.Information, "The config dir's {Resource} changed since a rollback pinned it: the file edit wins, the pin is dropped")]
    public static partial void RollbackPinDropped(ILogger logger, string resource);

    [LoggerMessage(150, LogLevel.Information, "Config on etcd: {Files} file(s) at config version {Version} (etcd revision {Revision}); following it with a watch")]
    public static partial void EtcdConfigLoaded(ILogger logger, int files, long version, long revision);

    [LoggerMessage(151, LogLevel.Warning, "etcd watch of the config broke at revision {Revision} ({Reason}); watching again from there on the next member")]
    public static partial void EtcdConfigWatchBroken(ILogger logger, long revision, string reason);

    [LoggerMessage(152, LogLevel.Information, "Imported config dir {Directory} into etcd: {Put} file(s) written, {Deleted} removed; config version {Version}")]
    public static partial void EtcdConfigImported(ILogger logger, string directory, int put, int deleted, long version);

    [LoggerMessage(153, LogLevel.Information, "Elected to import the config dir: {Replica} holds the config leader key on etcd and imports {Directory}; the other replicas serve what etcd holds")]
    public static partial void ConfigLeaderElected(ILogger logger, string replica, string directory);

    [LoggerMessage(154, LogLevel.Warning, "No longer the replica importing the config dir ({Replica}): {Reason}; serving the config etcd holds")]
    public static partial void ConfigLeaderLost(ILogger logger, string replica, string reason);

    [LoggerMessage(155, LogLevel.Warning, "Config write refused: {Reason}")]
    public static partial void ConfigWriteFailed(ILogger logger, string reason);
}
