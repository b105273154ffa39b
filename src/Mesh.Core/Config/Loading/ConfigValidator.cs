using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

/// <summary>
/// Semantic checks across the whole config set. Runs every check without stopping at the first
/// failure so that all problems are reported together.
/// </summary>
public static class ConfigValidator
{
    /// <param name="registeredHosts">Canonical hosts with registered instances, to warn about hosts that
    /// resolve nowhere; null when the registry is not known (offline validation).</param>
    public static IReadOnlyList<ConfigError> Validate(ConfigSet config, IReadOnlySet<string>? registeredHosts = null)
    {
        var problems = new List<ConfigError>();
        CheckDuplicateNames(config.VirtualServices, "VirtualService", problems);
        CheckDuplicateNames(config.DestinationRules, "DestinationRule", problems);
        CheckDuplicateNames(config.ServiceEntries, "ServiceEntry", problems);
        CheckDuplicateNames(config.Gateways, "Gateway", problems);
        CheckDuplicateNames(config.PeerAuthentications, "PeerAuthentication", problems);
        CheckDuplicateNames(config.AuthorizationPolicies, "AuthorizationPolicy", problems);
        CheckDuplicateNames(config.Sidecars, "Sidecar", problems);
        CheckDuplicateNames(config.ExportedServices, "ExportedServices", problems);
        var hosts = new HostIndex(config, registeredHosts);
        var subsets = KnownSubsets(config);
        var gateways = new Dictionary<(string, string), Resource<Gateway>>();
        foreach (var gateway in config.Gateways)
        {
            GatewayValidator.Validate(new ResourceProblems<Gateway>(gateway, problems));
            gateways.TryAdd((gateway.Metadata.Namespace, gateway.Metadata.Name), gateway);
        }
        var routedBy = new Dictionary<string, Resource<VirtualService>>(StringComparer.Ordinal);
        foreach (var vs in config.VirtualServices)
        {
            VirtualServiceValidator.Validate(new ResourceProblems<VirtualService>(vs, problems), subsets, hosts, routedBy, gateways);
        }
        var ruleFor = new Dictionary<string, Resource<DestinationRule>>(StringComparer.Ordinal);
        foreach (var dr in config.DestinationRules)
        {
            DestinationRuleValidator.Validate(new ResourceProblems<DestinationRule>(dr, problems), hosts, ruleFor);
        }
        var entryFor = new Dictionary<string, Resource<ServiceEntry>>(StringComparer.Ordinal);
        foreach (var se in config.ServiceEntries)
        {
            ServiceEntryValidator.Validate(new ResourceProblems<ServiceEntry>(se, problems), entryFor);
        }
        SecurityPolicyValidator.Validate(config, problems);
        SidecarValidator.Validate(config, problems);
        ExportedServicesValidator.Validate(config, problems);
        return problems;
    }

    internal static ConfigError At<T>(Resource<T> resource, string path, string message, ConfigSeverity severity = ConfigSeverity.Error)
        where T : class
    {
        var (line, column) = resource.Positions.Find(path);
        return new ConfigError(resource.Source, line, column, path, message, severity);
    }

    /// <summary>"file:line" of a resource's field, for messages that point at another resource.</summary>
    internal static string Where<T>(Resource<T> resource, string path) where T : class =>
        $"{resource.Source}:{resource.Positions.Find(path).Line}";

    /// <summary>Which hosts a destination can resolve to: ServiceEntry hosts, and the registry's when known.</summary>
    public sealed class HostIndex(ConfigSet config, IReadOnlySet<string>? registered)
    {
        private readonly string[] _entries = config.ServiceEntries
            .SelectMany(se => se.Spec.Hosts.Select(h => HostName.Canonical(h, se.Metadata.Namespace)))
            .ToArray();

        public IReadOnlySet<string>? Registered => registered;

        /// <summary>The first ServiceEntry that defines the host exactly (the one that applies), or null.</summary>
        public Resource<ServiceEntry>? ServiceEntryFor(string canonical) =>
            config.ServiceEntries.FirstOrDefault(se => se.Spec.Hosts.Any(h => HostName.IsValid(h) && HostName.Canonical(h, se.Metadata.Namespace) == canonical));

        /// <summary>Whether a ServiceEntry defines the host (it is outside the mesh, or a mesh service reached directly).</summary>
        public bool IsServiceEntry(string canonical) =>
            _entries.Any(e => e == canonical || (e.StartsWith("*.", StringComparison.Ordinal) && canonical.EndsWith(e[1..], StringComparison.Ordinal)));

        public bool Resolves(string canonical) =>
            registered?.Contains(canonical) == true
            || _entries.Any(e => e == canonical || (e.StartsWith("*.", StringComparison.Ordinal) && canonical.EndsWith(e[1..], StringComparison.Ordinal)));
    }

    /// <summary>Subset names by canonical host, from every DestinationRule.</summary>
    private static Dictionary<string, HashSet<string>> KnownSubsets(ConfigSet config)
    {
        var subsets = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var dr in config.DestinationRules)
        {
            var host = HostName.Canonical(dr.Spec.Host, dr.Metadata.Namespace);
            if (!subsets.TryGetValue(host, out var names))
            {
                subsets[host] = names = new HashSet<string>(StringComparer.Ordinal);
            }
            names.UnionWith(dr.Spec.Subsets.Select(s => s.Name));
        }
        return subsets;
    }

    private static void CheckDuplicateNames<T>(IReadOnlyList<Resource<T>> resources, string kind, List<ConfigError> problems)
        where T : class
    {
        var seen = new Dictionary<(string, string), Resource<T>>();
        foreach (var resource in resources)
        {
            var key = (resource.Metadata.Namespace, resource.Metadata.Name);
            if (seen.TryGetValue(key, out var first))
            {
                problems.Add(At(resource, "metadata.name",
                    $"duplicate {kind} '{key.Item2}' in namespace '{key.Item1}' (first defined at {Where(first, "metadata.name")})"));
            }
            else
            {
                seen[key] = resource;
            }
        }
    }
}
