using Mesh.Core.Config.Model;

namespace Mesh.Core.Config.Loading;

/// <summary>Collects resources of every kind while files are read.</summary>
internal sealed class ConfigSetBuilder
{
    public List<Resource<VirtualService>> VirtualServices { get; } = [];
    public List<Resource<DestinationRule>> DestinationRules { get; } = [];

    public ConfigSet Build() => new()
    {
        VirtualServices = VirtualServices.ToArray(),
        DestinationRules = DestinationRules.ToArray(),
    };
}
