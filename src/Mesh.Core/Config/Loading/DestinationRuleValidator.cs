using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

internal static class DestinationRuleValidator
{
    public static void Validate(Resource<DestinationRule> dr, List<ConfigError> problems)
    {
        if (dr.Spec.Host.Length == 0)
        {
            problems.Add(ConfigValidator.At(dr, "spec.host", "a DestinationRule needs a host"));
        }
        else if (!HostName.IsValid(dr.Spec.Host))
        {
            problems.Add(ConfigValidator.At(dr, "spec.host", $"'{dr.Spec.Host}' is not a valid host name"));
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < dr.Spec.Subsets.Count; i++)
        {
            var subset = dr.Spec.Subsets[i];
            if (subset.Name.Length == 0)
            {
                problems.Add(ConfigValidator.At(dr, $"spec.subsets[{i}]", "a subset needs a name"));
            }
            else if (!names.Add(subset.Name))
            {
                problems.Add(ConfigValidator.At(dr, $"spec.subsets[{i}].name", $"subset '{subset.Name}' is defined twice"));
            }
        }
    }
}
