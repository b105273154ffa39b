namespace Mesh.Core.Config.Model;

/// <summary>networking.istio.io ServiceEntry: a service outside the registry (an external API) that mesh
/// apps may call through their sidecar, with the same routing and policies as mesh services.</summary>
[UnsupportedFields("workloadSelector", "subjectAltNames")]
public sealed record ServiceEntry
{
    public IReadOnlyList<string> Hosts { get; init; } = [];

    /// <summary>Virtual IPs of the service; Mesh routes by host name, so only carried.</summary>
    public IReadOnlyList<string> Addresses { get; init; } = [];

    public IReadOnlyList<ServicePort> Ports { get; init; } = [];
    public ServiceEntryLocation? Location { get; init; }
    public ServiceEntryResolution? Resolution { get; init; }
    public IReadOnlyList<WorkloadEntry> Endpoints { get; init; } = [];
    public IReadOnlyList<string> ExportTo { get; init; } = [];
}

public sealed record ServicePort
{
    public int Number { get; init; }
    public string? Protocol { get; init; }
    public string Name { get; init; } = "";
    public int? TargetPort { get; init; }
}

public enum ServiceEntryLocation
{
    MeshExternal,
    MeshInternal,
}

public enum ServiceEntryResolution
{
    None,
    Static,
    Dns,
    DnsRoundRobin,
}

/// <summary>One endpoint of a ServiceEntry: an IP (STATIC) or a DNS name (DNS), with per-port overrides.</summary>
[UnsupportedFields("network", "serviceAccount")]
public sealed record WorkloadEntry
{
    public string Address { get; init; } = "";
    public IReadOnlyDictionary<string, int> Ports { get; init; } = new Dictionary<string, int>();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>"region/zone" or "region/zone/subzone".</summary>
    public string? Locality { get; init; }

    public int? Weight { get; init; }
}
