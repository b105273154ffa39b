namespace Mesh.Core.Registry;

public sealed record RegistryOptions
{
    /// <summary>A lease not renewed for this long expires. With the default heartbeat every 2 s and a
    /// sweep every 500 ms, a dead instance leaves the routing set within ~8.5 s.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How often sidecars renew; a third of the TTL or less survives one lost heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(2);
}
