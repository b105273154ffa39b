using System.Text.Json.Serialization;

namespace Mesh.Core.Config.Model;

/// <summary>Kubernetes-style metadata of a config resource.</summary>
public sealed record ResourceMetadata
{
    public string Name { get; init; } = "";
    public string Namespace { get; init; } = "default";
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
}

/// <summary>One parsed document: metadata and the kind's spec, with where it came from.</summary>
public sealed record Resource<TSpec> where TSpec : class
{
    public required string ApiVersion { get; init; }
    public required ResourceMetadata Metadata { get; init; }
    public required TSpec Spec { get; init; }

    /// <summary>File the resource was read from (relative to the config dir), for error messages.</summary>
    public string Source { get; init; } = "";

    /// <summary>Line and column of every field path inside the document; not sent to sidecars.</summary>
    [JsonIgnore]
    public SourcePositions Positions { get; init; } = SourcePositions.Empty;
}
