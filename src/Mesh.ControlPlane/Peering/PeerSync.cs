using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// What was last imported from one peer, and how the last attempt went. <see cref="Json"/> is the peer's answer
/// as it came (compared to tell a change), <see cref="Instances"/> what callers here get from it.
/// </summary>
internal sealed record PeerSync(string Json, IReadOnlyList<ServiceInstance> Instances, bool Stale, DateTimeOffset? LastSync, string? LastError)
{
    /// <summary>The same import, marked stale: routed to as it was last seen, until the peer answers again.</summary>
    public PeerSync AsStale(string? error) =>
        this with { Instances = Instances.Select(i => i with { Stale = true }).ToArray(), Stale = true, LastError = error ?? LastError };
}
