using Mesh.Core.Config.Model;

namespace Mesh.Core.Config.Loading;

/// <summary>Collects resources of every kind while files are read.</summary>
internal sealed class ConfigSetBuilder
{
    public List<Resource<VirtualService>> VirtualServices { get; } = [];
    public List<Resource<DestinationRule>> DestinationRules { get; } = [];
    public List<Resource<ServiceEntry>> ServiceEntries { get; } = [];

    /// <summary>Removes resources that a resource from <paramref name="source"/> redefines (same kind, namespace, name).</summary>
    public void DropShadowedBy(string source)
    {
        DropShadowed(VirtualServices, source);
        DropShadowed(DestinationRules, source);
        DropShadowed(ServiceEntries, source);
    }

    private static void DropShadowed<T>(List<Resource<T>> resources, string source) where T : class
    {
        var preferred = resources.Where(r => r.Source == source)
            .Select(r => (r.Metadata.Namespace, r.Metadata.Name))
            .ToHashSet();
        resources.RemoveAll(r => r.Source != source && preferred.Contains((r.Metadata.Namespace, r.Metadata.Name)));
    }

    public ConfigSet Build() => new()
    {
        VirtualServices = VirtualServices.ToArray(),
        DestinationRules = DestinationRules.ToArray(),
        ServiceEntries = ServiceEntries.ToArray(),
    };
}
