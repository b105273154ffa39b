namespace Mesh.Core.Registry;

/// <summary>One registered instance of a service: where its sidecar's inbound listener is.</summary>
public sealed record ServiceInstance
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
    public DateTimeOffset RegisteredAt { get; init; }
    public DateTimeOffset LeaseExpiresAt { get; init; }

    /// <summary>The canonical host key ("name.namespace") this instance serves.</summary>
    public string Host => $"{Service}.{Namespace}";
}
