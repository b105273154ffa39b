namespace Mesh.Core.Config.Model;

/// <summary>The whole routing config at one version: every resource of every kind.</summary>
public sealed record ConfigSet
{
    public static readonly ConfigSet Empty = new();

    public IReadOnlyList<Resource<VirtualService>> VirtualServices { get; init; } = [];
    public IReadOnlyList<Resource<DestinationRule>> DestinationRules { get; init; } = [];
    public IReadOnlyList<Resource<ServiceEntry>> ServiceEntries { get; init; } = [];
    public IReadOnlyList<Resource<Gateway>> Gateways { get; init; } = [];
    public IReadOnlyList<Resource<PeerAuthentication>> PeerAuthentications { get; init; } = [];
    public IReadOnlyList<Resource<AuthorizationPolicy>> AuthorizationPolicies { get; init; } = [];
    public IReadOnlyList<Resource<IstioSidecar>> Sidecars { get; init; } = [];

    /// <summary>Which services peered regions may import (Mesh's own kind; the control plane reads it, sidecars need not).</summary>
    public IReadOnlyList<Resource<ExportedServices>> ExportedServices { get; init; } = [];
}
