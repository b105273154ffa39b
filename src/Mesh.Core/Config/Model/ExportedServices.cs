namespace Mesh.Core.Config.Model;

/// <summary>
/// Mesh's own <c>peering.mesh.dev/v1alpha1 ExportedServices</c> (after Consul's resource of that name): which
/// services of this region's registry the control planes of which peered regions may import. A service
/// not listed is never shown to any peer.
/// </summary>
public sealed record ExportedServices
{
    public IReadOnlyList<ExportedService> Services { get; init; } = [];
}

/// <summary>One exported service: its name, its namespace (the resource's when left out) and who imports it.</summary>
public sealed record ExportedService
{
    public string Name { get; init; } = "";
    public string? Namespace { get; init; }
    public IReadOnlyList<ServiceConsumer> Consumers { get; init; } = [];
}

/// <summary>A peer (by the name this control plane knows the peering under) that may import the service.</summary>
public sealed record ServiceConsumer
{
    public string Peer { get; init; } = "";
}
