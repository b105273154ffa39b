namespace Mesh.ControlPlane.Peering;

internal static partial class PeeringLog
{
    [LoggerMessage(280, LogLevel.Information, "Peering token generated for peer '{Peer}' (pending until the peer establishes with it)")]
    public static partial void TokenGenerated(ILogger logger, string peer);

    [LoggerMessage(281, LogLevel.Information, "Peering '{Peer}' established ({Role}): trust domain {TrustDomain}, region {Region}, at {Addresses}")]
    public static partial void Established(ILogger logger, string peer, string role, string trustDomain, string region, string addresses);

    [LoggerMessage(282, LogLevel.Information, "Imported {Count} instance(s) from peer '{Peer}'")]
    public static partial void Imported(ILogger logger, int count, string peer);

    [LoggerMessage(283, LogLevel.Warning, "Peer '{Peer}' did not answer ({Reason}); its {Count} last known instance(s) stay routable, marked stale")]
    public static partial void PeerUnreachable(ILogger logger, string peer, string reason, int count);

    [LoggerMessage(284, LogLevel.Information, "Peer '{Peer}' answers again; its instances are re-synced")]
    public static partial void PeerBack(ILogger logger, string peer);

    [LoggerMessage(285, LogLevel.Warning, "Peer API call refused from {Address}: {Reason}")]
    public static partial void Refused(ILogger logger, string address, string reason);

    [LoggerMessage(286, LogLevel.Information, "Peering '{Peer}' deleted")]
    public static partial void Deleted(ILogger logger, string peer);

    [LoggerMessage(287, LogLevel.Information, "Restored {Count} instance(s) last imported from peer '{Peer}', stale until it answers")]
    public static partial void ImportsRestored(ILogger logger, int count, string peer);

    [LoggerMessage(288, LogLevel.Warning, "The last imports from peers could not be read at start ({Reason}); they come with the first fetch")]
    public static partial void ImportsNotRestored(ILogger logger, string reason);

    [LoggerMessage(289, LogLevel.Information, "This replica ({Candidate}) now imports from the peers; the others take its imports from etcd")]
    public static partial void ImportingOnThisReplica(ILogger logger, string candidate);

    [LoggerMessage(290, LogLevel.Warning, "This replica no longer imports from the peers: {Reason}")]
    public static partial void ImportOfficeLost(ILogger logger, string reason);

    [LoggerMessage(291, LogLevel.Warning, "Imports from peers not read or kept this round ({Reason}); callers keep what they have")]
    public static partial void ImportsNotShared(ILogger logger, string reason);
}
