namespace Mesh.Core.Registry;

/// <summary>Who registered an instance, and so how callers reach it: a sidecar's own instance takes mutual
/// TLS on the sidecar's inbound port; one registered through a sidecar's Consul or Eureka API has no
/// sidecar in front of it and is called over plaintext HTTP/1.1 at its address, as a ServiceEntry endpoint is.</summary>
public enum RegistrationSource
{
    Sidecar,
    Consul,
    Eureka,
}

/// <summary>What a sidecar sends to register its instance, or one its discovery agent holds for a Consul
/// or Eureka client (and again when it re-registers).</summary>
public sealed record Registration
{
    public required string InstanceId { get; init; }
    public required string Service { get; init; }
    public string Namespace { get; init; } = "default";
    public required string Address { get; init; }
    public required int Port { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>TCP service ports the instance serves through its sidecar (none for an HTTP-only instance).</summary>
    public IReadOnlyList<InstancePort> TcpPorts { get; init; } = [];
    public string? Region { get; init; }
    public string? Zone { get; init; }
    public HealthStatus Health { get; init; }
    public RegistrationSource Source { get; init; }

    /// <summary>For a Consul or Eureka registration, the sidecar (its instance id) whose agent holds it, as
    /// Consul's node; the instance id is then <c>&lt;client's id&gt;@&lt;node&gt;</c>, so two agents' "web" never collide.</summary>
    public string? Node { get; init; }

    /// <summary>Consul tags, as registered; empty for other sources.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>The instance this registration makes, with its lease times.</summary>
    public ServiceInstance ToInstance(DateTimeOffset registeredAt, DateTimeOffset leaseExpiresAt) => new()
    {
        InstanceId = InstanceId,
        Service = Service,
        Namespace = Namespace,
        Address = Address,
        Port = Port,
        Labels = Labels,
        TcpPorts = TcpPorts,
        Region = Region,
        Zone = Zone,
        Health = Health,
        Source = Source,
        Node = Node,
        Tags = Tags,
        RegisteredAt = registeredAt,
        LeaseExpiresAt = leaseExpiresAt,
    };
}

/// <summary>The registry's answer: how long the lease lasts and how often to renew it.</summary>
public sealed record LeaseGrant(TimeSpan Ttl, TimeSpan HeartbeatInterval);

/// <summary>A lease renewal: the instance's health now and, from sidecars, the calls its app received (null from others).</summary>
public sealed record Heartbeat(HealthStatus Health, TrafficReport? Traffic = null);
