namespace Mesh.Core.Registry;

/// <summary>What a sidecar sends to register its instance (and again when it re-registers).</summary>
public sealed record Registration
{
    public required string InstanceId { get; init; }
    public required string Service { get; init; }
    public string Namespace { get; init; } = "default";
    public required string Address { get; init; }
    public required int Port { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? Region { get; init; }
    public string? Zone { get; init; }
    public HealthStatus Health { get; init; }
}

/// <summary>The registry's answer: how long the lease lasts and how often to renew it.</summary>
public sealed record LeaseGrant(TimeSpan Ttl, TimeSpan HeartbeatInterval);

public sealed record Heartbeat(HealthStatus Health);
