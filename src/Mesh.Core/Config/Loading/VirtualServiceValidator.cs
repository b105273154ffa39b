using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

internal static class VirtualServiceValidator
{
    public static void Validate(Resource<VirtualService> vs, Dictionary<string, HashSet<string>> subsets, List<ConfigError> problems)
    {
        var spec = vs.Spec;
        if (spec.Hosts.Count == 0)
        {
            problems.Add(ConfigValidator.At(vs, "spec.hosts", "a VirtualService needs at least one host"));
        }
        for (var i = 0; i < spec.Hosts.Count; i++)
        {
            if (!HostName.IsValid(spec.Hosts[i]))
            {
                problems.Add(ConfigValidator.At(vs, $"spec.hosts[{i}]", $"'{spec.Hosts[i]}' is not a valid host name"));
            }
        }
        for (var r = 0; r < spec.Http.Count; r++)
        {
            ValidateRoute(vs, spec.Http[r], $"spec.http[{r}]", subsets, problems);
        }
    }

    private static void ValidateRoute(Resource<VirtualService> vs, HttpRoute route, string path, Dictionary<string, HashSet<string>> subsets, List<ConfigError> problems)
    {
        if (route.Route.Count == 0)
        {
            problems.Add(ConfigValidator.At(vs, path, "an http rule needs at least one route destination"));
        }
        for (var m = 0; m < route.Match.Count; m++)
        {
            ValidateMatch(vs, route.Match[m], $"{path}.match[{m}]", problems);
        }
        var weightSum = 0;
        for (var d = 0; d < route.Route.Count; d++)
        {
            var destinationPath = $"{path}.route[{d}]";
            var destination = route.Route[d].Destination;
            if (destination is null || destination.Host.Length == 0)
            {
                problems.Add(ConfigValidator.At(vs, destinationPath, "a route needs destination.host"));
                continue;
            }
            var weight = route.Route[d].Weight ?? (route.Route.Count == 1 ? 100 : 0);
            if (weight < 0 || weight > 100)
            {
                problems.Add(ConfigValidator.At(vs, $"{destinationPath}.weight", $"weight {weight} is out of range 0-100"));
            }
            weightSum += weight;
            if (destination.Subset is { } subset)
            {
                var host = HostName.Canonical(destination.Host, vs.Metadata.Namespace);
                if (!subsets.TryGetValue(host, out var names) || !names.Contains(subset))
                {
                    problems.Add(ConfigValidator.At(vs, $"{destinationPath}.destination.subset",
                        $"subset '{subset}' of host '{destination.Host}' is not defined by any DestinationRule"));
                }
            }
        }
        if (route.Route.Count > 1 && weightSum != 100)
        {
            problems.Add(ConfigValidator.At(vs, $"{path}.route", $"route weights sum to {weightSum}; they must sum to 100"));
        }
        if (route.Timeout is { } timeout && timeout < TimeSpan.Zero)
        {
            problems.Add(ConfigValidator.At(vs, $"{path}.timeout", "timeout must not be negative"));
        }
        if (route.Retries is { Attempts: < 0 })
        {
            problems.Add(ConfigValidator.At(vs, $"{path}.retries.attempts", $"attempts must be 0 or more, got {route.Retries.Attempts}"));
        }
    }

    private static void ValidateMatch(Resource<VirtualService> vs, HttpMatchRequest match, string path, List<ConfigError> problems)
    {
        ValidateStringMatch(vs, match.Uri, $"{path}.uri", problems);
        ValidateStringMatch(vs, match.Method, $"{path}.method", problems);
        ValidateStringMatch(vs, match.Authority, $"{path}.authority", problems);
        foreach (var (name, value) in match.Headers)
        {
            ValidateStringMatch(vs, value, $"{path}.headers.{name}", problems);
        }
        foreach (var (name, value) in match.QueryParams)
        {
            ValidateStringMatch(vs, value, $"{path}.queryParams.{name}", problems);
        }
    }

    private static void ValidateStringMatch(Resource<VirtualService> vs, StringMatch? match, string path, List<ConfigError> problems)
    {
        if (match is null)
        {
            return;
        }
        var set = (match.Exact is null ? 0 : 1) + (match.Prefix is null ? 0 : 1) + (match.Regex is null ? 0 : 1);
        if (set != 1)
        {
            problems.Add(ConfigValidator.At(vs, path, "a string match needs exactly one of exact, prefix or regex"));
        }
    }
}
