using Mesh.Core.Config.Model;

namespace Mesh.Core.Config.Loading;

/// <summary>Collects resources of every kind while files are read.</summary>
internal sealed class ConfigSetBuilder
{
    public List<Resource<VirtualService>> VirtualServices { get; } = [];
    public List<Resource<DestinationRule>> DestinationRules { get; } = [];
    public List<Resource<ServiceEntry>> ServiceEntries { get; } = [];
    public List<Resource<Gateway>> Gateways { get; } = [];
    public List<Resource<PeerAuthentication>> PeerAuthentications { get; } = [];
    public List<Resource<AuthorizationPolicy>> AuthorizationPolicies { get; } = [];
    public List<Resource<IstioSidecar>> Sidecars { get; } = [];
    public List<Resource<ExportedServices>> ExportedServices { get; } = [];

    // Each resource's layer; records compare by value, and two files may hold the same resource.
    private readonly Dictionary<object, int> _layers = new(ReferenceEqualityComparer.Instance);

    /// <summary>Puts the resources added since the last call in <paramref name="layer"/>.</summary>
    public void EndFile(int layer)
    {
        Mark(VirtualServices, layer);
        Mark(DestinationRules, layer);
        Mark(ServiceEntries, layer);
        Mark(Gateways, layer);
        Mark(PeerAuthentications, layer);
        Mark(AuthorizationPolicies, layer);
        Mark(Sidecars, layer);
        Mark(ExportedServices, layer);
    }

    /// <summary>Keeps, for each kind, namespace and name, only the resources of the highest layer.</summary>
    public void DropShadowed()
    {
        DropShadowed(VirtualServices);
        DropShadowed(DestinationRules);
        DropShadowed(ServiceEntries);
        DropShadowed(Gateways);
        DropShadowed(PeerAuthentications);
        DropShadowed(AuthorizationPolicies);
        DropShadowed(Sidecars);
        DropShadowed(ExportedServices);
    }

    private void Mark<T>(List<Resource<T>> resources, int layer) where T : class
    {
        // Lists only grow, so the unmarked resources are the ones at the end.
        for (var i = resources.Count - 1; i >= 0 && _layers.TryAdd(resources[i], layer); i--)
        {
        }
    }

    private int LayerOf(object resource) => _layers.GetValueOrDefault(resource);

    private void DropShadowed<T>(List<Resource<T>> resources) where T : class
    {
        var top = resources
            .GroupBy(r => (r.Metadata.Namespace, r.Metadata.Name))
            .ToDictionary(g => g.Key, g => g.Max(LayerOf));
        resources.RemoveAll(r => LayerOf(r) < top[(r.Metadata.Namespace, r.Metadata.Name)]);
    }

    public ConfigSet Build() => new()
    {
        VirtualServices = VirtualServices.ToArray(),
        DestinationRules = DestinationRules.ToArray(),
        ServiceEntries = ServiceEntries.ToArray(),
        Gateways = Gateways.ToArray(),
        PeerAuthentications = PeerAuthentications.ToArray(),
        AuthorizationPolicies = AuthorizationPolicies.ToArray(),
        Sidecars = Sidecars.ToArray(),
        ExportedServices = ExportedServices.ToArray(),
    };
}
