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

    /// <summary>TCP service ports the instance serves through its sidecar (none for an HTTP-only instance).</summary>
    public IReadOnlyList<InstancePort> TcpPorts { get; init; } = [];
    public string? Region { get; init; }
    public string? Zone { get; init; }
    public HealthStatus Health { get; init; }
    public RegistrationSource Source { get; init; }

    /// <summary>For a Consul or Eureka registration, the sidecar (its instance id) whose agent holds it, as
    /// Consul's node; the instance id is then <c>&lt;client's id&gt;@&lt;node&gt;</c>, so two agents' "web" never collide.</summary>
    public string? Node { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];
    public DateTimeOffset RegisteredAt { get; init; }
    public DateTimeOffset LeaseExpiresAt { get; init; }

    /// <summary>For an instance imported from a peered region: the peering's name here; null for this region's own.</summary>
    public string? Peer { get; init; }

    /// <summary>The trust domain the instance's sidecar proves (its peer's for an imported one); null: this mesh's own.</summary>
    public string? TrustDomain { get; init; }

    /// <summary>An imported instance last seen while its region's control plane still answered: routed to as it was
    /// then (outlier detection guards it), never updated until the peer answers again.</summary>
    public bool Stale { get; init; }

    /// <summary>The canonical host key ("name.namespace") this instance serves.</summary>
    public string Host => $"{Service}.{Namespace}";

    /// <summary>Whether a sidecar's inbound port (mutual TLS) is in front of this instance.</summary>
    public bool HasSidecar => Source == RegistrationSource.Sidecar;

    /// <summary>
    /// The instance's tags as Consul clients and DNS see them: the Consul tags it was registered with,
    /// or for other instances each label's value and each label key with an empty value ("v1" for version=v1).
    /// </summary>
    public IEnumerable<string> ConsulTags =>
        Source == RegistrationSource.Consul
            ? Tags
            : Labels.Select(l => l.Value.Length == 0 ? l.Key : l.Value).Distinct(StringComparer.Ordinal);
}
