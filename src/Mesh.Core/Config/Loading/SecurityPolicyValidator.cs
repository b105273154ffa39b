using Mesh.Core.Config.Model;
using Mesh.Core.Security;

namespace Mesh.Core.Config.Loading;

/// <summary>Checks PeerAuthentication and AuthorizationPolicy resources.</summary>
internal static class SecurityPolicyValidator
{
    private static readonly string[] KnownMethods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];

    public static void Validate(ConfigSet config, List<ConfigError> problems)
    {
        var namespaceWide = new Dictionary<string, Resource<PeerAuthentication>>(StringComparer.Ordinal);
        foreach (var pa in config.PeerAuthentications)
        {
            var p = new ResourceProblems<PeerAuthentication>(pa, problems);
            if (pa.Spec.Mtls?.Mode == MutualTlsMode.Disable)
            {
                p.Error("spec.mtls.mode", "mode DISABLE is not implemented: Mesh sidecars always offer mutual TLS; use PERMISSIVE to accept plaintext callers as well");
            }
            if (pa.Spec.Selector is { MatchLabels.Count: 0 })
            {
                p.Error("spec.selector.matchLabels", "a selector needs at least one label; leave selector out to cover the whole namespace");
            }
            if (pa.Spec.Selector is null)
            {
                if (namespaceWide.TryGetValue(pa.Metadata.Namespace, out var first))
                {
                    p.Warning("metadata.name", $"namespace '{pa.Metadata.Namespace}' already has a PeerAuthentication without selector ('{first.Metadata.Name}' at {ConfigValidator.Where(first, "metadata.name")}); only that one applies");
                }
                else
                {
                    namespaceWide[pa.Metadata.Namespace] = pa;
                }
            }
        }
        foreach (var policy in config.AuthorizationPolicies)
        {
            ValidatePolicy(new ResourceProblems<AuthorizationPolicy>(policy, problems));
        }
    }

    private static void ValidatePolicy(ResourceProblems<AuthorizationPolicy> p)
    {
        var spec = p.Resource.Spec;
        if (spec.Action is AuthorizationAction.Audit or AuthorizationAction.Custom)
        {
            p.Error("spec.action", $"action {spec.Action.ToString()!.ToUpperInvariant()} is not implemented; Mesh evaluates ALLOW and DENY");
        }
        if (spec.Selector is { MatchLabels.Count: 0 })
        {
            p.Error("spec.selector.matchLabels", "a selector needs at least one label; leave selector out to cover the whole namespace");
        }
        if (spec.Action == AuthorizationAction.Deny && spec.Rules is null or { Count: 0 })
        {
            p.Warning("spec.action", "a DENY policy without rules denies nothing");
        }
        for (var r = 0; r < (spec.Rules?.Count ?? 0); r++)
        {
            var rule = spec.Rules![r];
            for (var f = 0; f < rule.From.Count; f++)
            {
                var path = $"spec.rules[{r}].from[{f}].source";
                if (rule.From[f].Source is not { } source)
                {
                    p.Error($"spec.rules[{r}].from[{f}]", "from needs a source");
                    continue;
                }
                Principals(p, $"{path}.principals", source.Principals);
                Principals(p, $"{path}.notPrincipals", source.NotPrincipals);
                NotEmpty(p, $"{path}.namespaces", source.Namespaces);
                NotEmpty(p, $"{path}.notNamespaces", source.NotNamespaces);
            }
            for (var t = 0; t < rule.To.Count; t++)
            {
                var path = $"spec.rules[{r}].to[{t}].operation";
                if (rule.To[t].Operation is not { } operation)
                {
                    p.Error($"spec.rules[{r}].to[{t}]", "to needs an operation");
                    continue;
                }
                Paths(p, $"{path}.paths", operation.Paths);
                Paths(p, $"{path}.notPaths", operation.NotPaths);
                Methods(p, $"{path}.methods", operation.Methods);
                Methods(p, $"{path}.notMethods", operation.NotMethods);
                NotEmpty(p, $"{path}.hosts", operation.Hosts);
                NotEmpty(p, $"{path}.notHosts", operation.NotHosts);
            }
        }
    }

    private static void NotEmpty(ResourceProblems<AuthorizationPolicy> p, string path, IReadOnlyList<string>? values)
    {
        if (values is { Count: 0 })
        {
            p.Error(path, "an empty list matches nothing; leave the field out instead");
        }
        for (var i = 0; i < (values?.Count ?? 0); i++)
        {
            var value = values![i];
            if (value.Length == 0 || (value.Length > 1 && value.IndexOf('*', 1) is var star && star > 0 && star < value.Length - 1))
            {
                p.Error($"{path}[{i}]", $"'{value}' is not a valid pattern: use an exact value, '*', a prefix ('abc*') or a suffix ('*abc')");
            }
        }
    }

    private static void Principals(ResourceProblems<AuthorizationPolicy> p, string path, IReadOnlyList<string>? values)
    {
        NotEmpty(p, path, values);
        for (var i = 0; i < (values?.Count ?? 0); i++)
        {
            if (values![i].StartsWith(SpiffeId.Scheme, StringComparison.Ordinal))
            {
                p.Error($"{path}[{i}]", $"principals are written without '{SpiffeId.Scheme}', e.g. 'cluster.local/ns/default/sa/reviews'; got '{values[i]}'");
            }
        }
    }

    private static void Paths(ResourceProblems<AuthorizationPolicy> p, string path, IReadOnlyList<string>? values)
    {
        NotEmpty(p, path, values);
        for (var i = 0; i < (values?.Count ?? 0); i++)
        {
            if (!values![i].StartsWith('/') && !values[i].StartsWith('*'))
            {
                p.Error($"{path}[{i}]", $"a path starts with '/' (or '*' for a suffix match), got '{values[i]}'");
            }
        }
    }

    private static void Methods(ResourceProblems<AuthorizationPolicy> p, string path, IReadOnlyList<string>? values)
    {
        NotEmpty(p, path, values);
        for (var i = 0; i < (values?.Count ?? 0); i++)
        {
            if (values![i] != "*" && !KnownMethods.Contains(values[i], StringComparer.Ordinal))
            {
                p.Error($"{path}[{i}]", $"'{values[i]}' is not an HTTP method; use one of {string.Join(", ", KnownMethods)} (upper case)");
            }
        }
    }
}
