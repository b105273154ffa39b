using Mesh.Core.Config.Model;
using Mesh.Core.Scoping;

namespace Mesh.Core.Config.Loading;

/// <summary>Checks Sidecar resources: their egress hosts, and which of them can never apply (Istio's precedence).</summary>
internal static class SidecarValidator
{
    public static void Validate(ConfigSet config, List<ConfigError> problems)
    {
        var namespaceWide = new Dictionary<string, Resource<IstioSidecar>>(StringComparer.Ordinal);
        var selecting = new List<Resource<IstioSidecar>>();
        foreach (var sidecar in config.Sidecars)
        {
            var p = new ResourceProblems<IstioSidecar>(sidecar, problems);
            ValidateSpec(p);
            if (sidecar.Spec.WorkloadSelector is null)
            {
                if (namespaceWide.TryGetValue(sidecar.Metadata.Namespace, out var first))
                {
                    p.Warning("metadata.name", $"namespace '{sidecar.Metadata.Namespace}' already has a Sidecar without workloadSelector ('{first.Metadata.Name}' at {ConfigValidator.Where(first, "metadata.name")}); only that one applies");
                }
                else
                {
                    namespaceWide[sidecar.Metadata.Namespace] = sidecar;
                }
                continue;
            }
            // Two selectors that do not contradict each other both select a workload with the labels of both.
            foreach (var earlier in selecting.Where(s => s.Metadata.Namespace == sidecar.Metadata.Namespace))
            {
                var a = earlier.Spec.WorkloadSelector!.Labels;
                var b = sidecar.Spec.WorkloadSelector.Labels;
                if (a.All(l => !b.TryGetValue(l.Key, out var v) || v == l.Value))
                {
                    var both = string.Join(",", a.Concat(b).DistinctBy(l => l.Key).Select(l => $"{l.Key}={l.Value}"));
                    p.Warning("spec.workloadSelector.labels", $"a workload labelled {both} is also selected by Sidecar '{earlier.Metadata.Name}' ({ConfigValidator.Where(earlier, "metadata.name")}); the first applies to it");
                }
            }
            selecting.Add(sidecar);
        }
    }

    private static void ValidateSpec(ResourceProblems<IstioSidecar> p)
    {
        var spec = p.Resource.Spec;
        if (spec.WorkloadSelector is { Labels.Count: 0 })
        {
            p.Error("spec.workloadSelector.labels", "a workloadSelector needs at least one label; leave workloadSelector out to cover the whole namespace");
        }
        if (spec.WorkloadSelector is not null && p.Resource.Metadata.Namespace == SidecarSelection.RootNamespace)
        {
            p.Warning("spec.workloadSelector", $"a Sidecar with workloadSelector in the root namespace '{SidecarSelection.RootNamespace}' applies only to workloads of that namespace; without it, it is the mesh-wide default");
        }
        if (spec.Egress.Count > 1)
        {
            p.Error("spec.egress", $"{spec.Egress.Count} egress listeners: Mesh's sidecar has one outbound listener, so a Sidecar takes one egress entry (list every host in its hosts)");
        }
        for (var e = 0; e < spec.Egress.Count; e++)
        {
            var hosts = spec.Egress[e].Hosts;
            if (hosts.Count == 0)
            {
                p.Error($"spec.egress[{e}].hosts", "an egress listener needs at least one host (namespace/dnsName, e.g. './*'); '~/*' for none");
            }
            for (var h = 0; h < hosts.Count; h++)
            {
                if (EgressHost.Parse(hosts[h], p.Resource.Metadata.Namespace).Error is { } error)
                {
                    p.Error($"spec.egress[{e}].hosts[{h}]", error);
                }
            }
        }
    }
}
