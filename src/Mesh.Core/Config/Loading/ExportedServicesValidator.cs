using Mesh.Core.Config.Model;
using Mesh.Core.Peering;

namespace Mesh.Core.Config.Loading;

/// <summary>Checks ExportedServices: every service named, with at least one consumer, each a valid peer name, nothing twice.</summary>
internal static class ExportedServicesValidator
{
    public static void Validate(ConfigSet config, List<ConfigError> problems)
    {
        // A service exported to a peer by two resources is not wrong, but one of them is stale: say where the other is.
        var exportedBy = new Dictionary<(string Service, string Peer), (Resource<ExportedServices> Resource, string Path)>();
        foreach (var resource in config.ExportedServices)
        {
            var p = new ResourceProblems<ExportedServices>(resource, problems);
            var services = resource.Spec.Services;
            if (services.Count == 0)
            {
                p.Error("spec.services", "list at least one service to export (name and consumers)");
            }
            for (var s = 0; s < services.Count; s++)
            {
                var service = services[s];
                var path = $"spec.services[{s}]";
                if (service.Name.Length == 0)
                {
                    p.Error($"{path}.name", "every exported service needs a name (the service's name, as its sidecars register it)");
                }
                else if (service.Name.Contains('.') || service.Name.Contains('/') || service.Name == "*")
                {
                    p.Error($"{path}.name", $"a service name, without namespace or wildcard (put the namespace in 'namespace'), got '{service.Name}'");
                }
                if (service.Namespace is { } ns && (ns.Length == 0 || ns.Contains('.') || ns.Contains('/')))
                {
                    p.Error($"{path}.namespace", $"a namespace name, got '{ns}'");
                }
                if (service.Consumers.Count == 0)
                {
                    p.Error($"{path}.consumers", "list at least one consumer (peer: <name of a peering>)");
                }
                var key = $"{service.Name}.{service.Namespace ?? resource.Metadata.Namespace}";
                for (var c = 0; c < service.Consumers.Count; c++)
                {
                    var peer = service.Consumers[c].Peer;
                    var consumerPath = $"{path}.consumers[{c}].peer";
                    if (PeerName.Problem(peer) is { } problem)
                    {
                        p.Error(consumerPath, problem);
                        continue;
                    }
                    if (!exportedBy.TryAdd((key, peer), (resource, consumerPath)))
                    {
                        var (first, firstPath) = exportedBy[(key, peer)];
                        p.Error(consumerPath, $"{key} is already exported to peer '{peer}' at {ConfigValidator.Where(first, firstPath)}");
                    }
                }
            }
        }
    }
}
