using Mesh.Core.Config.Model;

namespace Mesh.Core.Config.Loading;

/// <summary>Collects resources of every kind while files are read.</summary>
internal sealed class ConfigSetBuilder
{
    public List<Resource<VirtualService>> VirtualServices { get; } = [];
    public List<Resource<DestinationRule>> DestinationRules { get; } = [];
    public List<Resource<ServiceEntry>> ServiceEntries { get; } = [];
    public List<Resource<PeerAuthentication>> PeerAuthentications { get; } = [];
    public List<Resource<AuthorizationPolicy>> AuthorizationPolicies { get; } = [];

    /// <summary>Keeps, for each kind, namespace and name, only the resources of the highest layer.</summary>
    public void DropShadowed(Func<string, int> layerOf)
    {
        DropShadowed(VirtualServices, layerOf);
        DropShadowed(DestinationRules, layerOf);
        DropShadowed(ServiceEntries, layerOf);
        DropShadowed(PeerAuthentications, layerOf);
        DropShadowed(AuthorizationPolicies, layerOf);
    }

    private static void DropShadowed<T>(List<Resource<T>> resources, Func<string, int> layerOf) where T : class
    {
        var top = resources
            .GroupBy(r => (r.Metadata.Namespace, r.Metadata.Name))
            .ToDictionary(g => g.Key, g => g.Max(r => layerOf(r.Source)));
        resources.RemoveAll(r => layerOf(r.Source) < top[(r.Metadata.Namespace, r.Metadata.Name)]);
    }

    public ConfigSet Build() => new()
    {
        VirtualServices = VirtualServices.ToArray(),
        DestinationRules = DestinationRules.ToArray(),
        ServiceEntries = ServiceEntries.ToArray(),
        PeerAuthentications = PeerAuthentications.ToArray(),
        AuthorizationPolicies = AuthorizationPolicies.ToArray(),
    };
}
