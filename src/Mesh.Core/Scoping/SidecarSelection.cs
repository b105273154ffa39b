using Mesh.Core.Config.Model;
using Mesh.Core.Security;

namespace Mesh.Core.Scoping;

/// <summary>
/// Which Sidecar resource applies to a workload, by Istio's precedence: one in the workload's namespace whose
/// <c>workloadSelector</c> selects it, else its namespace's Sidecar without selector, else the root namespace's
/// (<see cref="WorkloadPolicy.RootNamespace"/>) Sidecar without selector, the mesh-wide default. At each level
/// the first in config order (file name, then position) wins; the validator warns about the others.
/// </summary>
public static class SidecarSelection
{
    public const string RootNamespace = WorkloadPolicy.RootNamespace;

    /// <param name="labels">The workload's labels; <c>app</c> is its service when not given, as for policies.</param>
    public static Resource<IstioSidecar>? For(ConfigSet config, string ns, string service, IReadOnlyDictionary<string, string> labels)
    {
        if (config.Sidecars.Count == 0)
        {
            return null;
        }
        Resource<IstioSidecar>? namespaceWide = null, meshWide = null;
        foreach (var sidecar in config.Sidecars)
        {
            var selector = sidecar.Spec.WorkloadSelector;
            if (sidecar.Metadata.Namespace == ns && selector is not null && Selects(selector, service, labels))
            {
                return sidecar;
            }
            if (selector is null && sidecar.Metadata.Namespace == ns)
            {
                namespaceWide ??= sidecar;
            }
            else if (selector is null && sidecar.Metadata.Namespace == RootNamespace)
            {
                meshWide ??= sidecar;
            }
        }
        return namespaceWide ?? meshWide;
    }

    private static bool Selects(SidecarWorkloadSelector selector, string service, IReadOnlyDictionary<string, string> labels) =>
        selector.Labels.All(l => labels.TryGetValue(l.Key, out var v) ? v == l.Value : l.Key == "app" && l.Value == service);
}
