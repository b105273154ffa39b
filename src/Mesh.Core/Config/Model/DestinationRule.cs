namespace Mesh.Core.Config.Model;

/// <summary>networking.istio.io DestinationRule: subsets and traffic policy of a host.</summary>
[UnsupportedFields("workloadSelector")]
public sealed record DestinationRule
{
    public string Host { get; init; } = "";
    public TrafficPolicy? TrafficPolicy { get; init; }
    public IReadOnlyList<Subset> Subsets { get; init; } = [];
    public IReadOnlyList<string> ExportTo { get; init; } = [];
}

public sealed record Subset
{
    public string Name { get; init; } = "";
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public TrafficPolicy? TrafficPolicy { get; init; }
}
