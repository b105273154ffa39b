using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Scoping;

/// <summary>
/// What a Sidecar resource lets its workloads see of one config: the hosts its egress selects, plus the
/// destinations of the VirtualServices it selects (as Istio infers them), and the config and instances of
/// those hosts. Built once per config and scope key and shared by every watcher with that scope.
/// </summary>
public sealed class SidecarScope
{
    private readonly EgressHost[]? _egress;
    private readonly HashSet<string> _inferred;

    private SidecarScope(SnapshotScope wire, EgressHost[]? egress, HashSet<string> inferred, ConfigSet source)
    {
        Wire = wire;
        _egress = egress;
        _inferred = inferred;
        Source = source;
        Config = Filter(source);
    }

    public SnapshotScope Wire { get; }

    /// <summary>
    /// What the scope selects, as text: two scopes of one key with the same fingerprint keep the same hosts and
    /// the same scope on the wire, so a delta across a config change is still within the scope the watcher holds.
    /// </summary>
    public string Fingerprint => _fingerprint ??= string.Join("\n", [Wire.Mode.ToString(), string.Join(",", Wire.Hosts), .. _inferred.Order(StringComparer.Ordinal)]);

    private string? _fingerprint;

    /// <summary>The config this scope was built from (by reference: a new config needs a new scope).</summary>
    public ConfigSet Source { get; }

    /// <summary>The part of <see cref="Source"/> the workload may see.</summary>
    public ConfigSet Config { get; }

    /// <param name="configNamespace">What '.' means: the Sidecar's namespace, or for the root namespace's default the workload's.</param>
    public static SidecarScope Build(ConfigSet config, Resource<IstioSidecar> sidecar, string configNamespace)
    {
        var written = sidecar.Spec.Egress.SelectMany(e => e.Hosts).ToArray();
        // No egress: every host is visible and the Sidecar sets only the outbound policy (Istio's default egress).
        var egress = written.Length == 0
            ? null
            : written.Select(h => EgressHost.Parse(h, configNamespace).Host).OfType<EgressHost>().ToArray();
        var inferred = new HashSet<string>(StringComparer.Ordinal);
        if (egress is not null)
        {
            foreach (var vs in config.VirtualServices.Where(vs => GatewayBinding.BindsMesh(vs) && SelectsAny(egress, vs)))
            {
                // tcp: and tls: rules' destinations are reached through this host too, as http: rules' are.
                foreach (var route in vs.Spec.Tcp.SelectMany(r => r.Route).Concat(vs.Spec.Tls.SelectMany(r => r.Route)).Where(r => r.Destination is not null))
                {
                    inferred.Add(HostName.Canonical(route.Destination!.Host, vs.Metadata.Namespace));
                }
                foreach (var rule in vs.Spec.Http)
                {
                    inferred.UnionWith(rule.Route.Where(r => r.Destination is not null).Select(r => HostName.Canonical(r.Destination!.Host, vs.Metadata.Namespace)));
                    if (rule.Mirror is { } mirror)
                    {
                        inferred.Add(HostName.Canonical(mirror.Host, vs.Metadata.Namespace));
                    }
                }
            }
        }
        var wire = new SnapshotScope
        {
            Sidecar = $"{sidecar.Metadata.Namespace}/{sidecar.Metadata.Name}",
            Namespace = configNamespace,
            Hosts = egress?.Select(e => e.ToString()).ToArray() ?? [],
            Mode = sidecar.Spec.OutboundTrafficPolicy?.Mode ?? OutboundTrafficMode.RegistryOnly,
        };
        return new SidecarScope(wire, egress, inferred, config);
    }

    /// <summary>Whether calls may reach this instance's service.</summary>
    public bool Includes(ServiceInstance instance) => Visible(instance.Namespace, instance.Host);

    /// <summary>The snapshot as this scope's workloads get it.</summary>
    public MeshSnapshot Apply(MeshSnapshot full) => new()
    {
        Version = full.Version,
        ConfigVersion = full.ConfigVersion,
        CreatedAt = full.CreatedAt,
        Config = ReferenceEquals(full.Config, Source) ? Config : Filter(full.Config),
        Instances = full.Instances.Where(Includes).ToArray(),
        Scope = Wire,
    };

    private bool Visible(string ns, string canonical) =>
        _egress is null || _inferred.Contains(canonical) || _egress.Any(e => e.Selects(ns, canonical));

    /// <summary>
    /// Whether a sidecar with <paramref name="scope"/> may call <paramref name="canonical"/> at all, for the answer
    /// to a host it does not know: a mesh host's namespace is in its name; an external host, whose defining
    /// ServiceEntry's namespace the sidecar cannot know, is in scope when some entry's dnsName selects it.
    /// </summary>
    public static bool Allows(SnapshotScope scope, string canonical)
    {
        if (scope.Hosts.Count == 0)
        {
            return true;
        }
        var dot = canonical.IndexOf('.');
        var meshHost = dot > 0 && canonical.IndexOf('.', dot + 1) < 0;
        foreach (var written in scope.Hosts)
        {
            if (EgressHost.Parse(written, scope.Namespace).Host is { NoNamespace: false } egress
                && egress.Selects(meshHost ? canonical[(dot + 1)..] : egress.Namespace ?? "", canonical))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>A host's namespace: the one in its canonical name ("reviews.prod"), or the defining resource's for an external host.</summary>
    private static string NamespaceOf(string canonical, string resourceNamespace)
    {
        var dot = canonical.IndexOf('.');
        return dot > 0 && canonical.IndexOf('.', dot + 1) < 0 ? canonical[(dot + 1)..] : resourceNamespace;
    }

    private static bool SelectsAny(EgressHost[] egress, Resource<VirtualService> vs) =>
        vs.Spec.Hosts.Any(h => h != "*" && egress.Any(e => e.Selects(vs.Metadata.Namespace, HostName.Canonical(h, vs.Metadata.Namespace))));

    private ConfigSet Filter(ConfigSet config) => _egress is null
        ? config with { Sidecars = [] }
        : config with
        {
            VirtualServices = config.VirtualServices.Where(vs => GatewayBinding.BindsMesh(vs) && SelectsAny(_egress, vs)).ToArray(),
            DestinationRules = config.DestinationRules.Where(dr => HostVisible(dr.Spec.Host, dr.Metadata.Namespace)).ToArray(),
            ServiceEntries = config.ServiceEntries.Where(se => se.Spec.Hosts.Any(h => HostVisible(h, se.Metadata.Namespace))).ToArray(),
            // Gateways configure gateways, which are never scoped; the sidecar's own scope travels in the snapshot.
            Gateways = [],
            Sidecars = [],
        };

    private bool HostVisible(string written, string resourceNamespace)
    {
        var canonical = HostName.Canonical(written, resourceNamespace);
        return Visible(NamespaceOf(canonical, resourceNamespace), canonical);
    }
}
