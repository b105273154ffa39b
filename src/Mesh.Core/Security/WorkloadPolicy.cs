using Mesh.Core.Config.Model;

namespace Mesh.Core.Security;

/// <summary>What an inbound call is judged on: who called (null over plaintext) and what it asks for.</summary>
public readonly record struct InboundRequest(SpiffeId? Peer, string Method, string Path, string Host);

/// <summary>The outcome of authorization; <paramref name="Policy"/> names the deciding policy ("ns/name") when there is one.</summary>
public readonly record struct AuthorizationDecision(bool Allowed, string? Policy, string Reason)
{
    public static readonly AuthorizationDecision AllowedNoPolicy = new(true, null, "no ALLOW policy applies");
}

/// <summary>
/// The security policy that applies to one workload's inbound port, resolved from the config as Istio
/// does: PeerAuthentication by selector, then namespace, then the root namespace (mesh-wide), with
/// UNSET inheriting; AuthorizationPolicy from the workload's namespace and the root namespace, DENY
/// first, then allowed when no ALLOW policy applies or one of them matches.
/// </summary>
public sealed class WorkloadPolicy
{
    /// <summary>Policies here apply to every workload in the mesh (Istio's default root namespace).</summary>
    public const string RootNamespace = "istio-system";

    private readonly Resource<AuthorizationPolicy>[] _deny;
    private readonly Resource<AuthorizationPolicy>[] _allow;

    private WorkloadPolicy(MutualTlsMode mode, string modeSource, Resource<AuthorizationPolicy>[] deny, Resource<AuthorizationPolicy>[] allow)
    {
        Mode = mode;
        ModeSource = modeSource;
        _deny = deny;
        _allow = allow;
    }

    /// <summary>STRICT (only mutual TLS) or PERMISSIVE (plaintext too).</summary>
    public MutualTlsMode Mode { get; }

    /// <summary>Which PeerAuthentication set the mode, or "default".</summary>
    public string ModeSource { get; }

    public int AuthorizationPolicyCount => _deny.Length + _allow.Length;

    public static WorkloadPolicy For(ConfigSet config, string ns, string service, IReadOnlyDictionary<string, string> labels)
    {
        var workloadLabels = new Dictionary<string, string>(labels, StringComparer.Ordinal);
        workloadLabels.TryAdd("app", service);

        bool Applies(ResourceMetadata metadata, WorkloadSelector? selector) =>
            (metadata.Namespace == ns || metadata.Namespace == RootNamespace)
            && (selector is null || selector.MatchLabels.All(l => workloadLabels.TryGetValue(l.Key, out var v) && v == l.Value));

        var (mode, source) = ResolveMode(config, ns, workloadLabels);
        var policies = config.AuthorizationPolicies.Where(p => Applies(p.Metadata, p.Spec.Selector)).ToArray();
        return new WorkloadPolicy(mode, source,
            policies.Where(p => p.Spec.Action == AuthorizationAction.Deny).ToArray(),
            policies.Where(p => p.Spec.Action is null or AuthorizationAction.Allow).ToArray());
    }

    public AuthorizationDecision Authorize(in InboundRequest request)
    {
        foreach (var policy in _deny)
        {
            if (AnyRuleMatches(policy.Spec, request))
            {
                return new AuthorizationDecision(false, Name(policy), $"denied by DENY policy {Name(policy)}");
            }
        }
        if (_allow.Length == 0)
        {
            return AuthorizationDecision.AllowedNoPolicy;
        }
        foreach (var policy in _allow)
        {
            if (AnyRuleMatches(policy.Spec, request))
            {
                return new AuthorizationDecision(true, Name(policy), $"allowed by {Name(policy)}");
            }
        }
        var names = string.Join(", ", _allow.Select(Name));
        return new AuthorizationDecision(false, null, $"no ALLOW policy matched (applicable: {names})");
    }

    /// <summary>
    /// Authorization of an opaque TCP connection, as Istio judges TCP: only who is calling is known. A rule
    /// with HTTP-only fields (paths, methods, hosts) never matches in an ALLOW policy, and in a DENY policy
    /// those fields are ignored, so the rule denies on its other conditions (Istio's "more restrictive" choice).
    /// </summary>
    public AuthorizationDecision AuthorizeConnection(SpiffeId? peer)
    {
        foreach (var policy in _deny)
        {
            if ((policy.Spec.Rules ?? []).Any(rule => ConnectionRuleMatches(rule, peer, deny: true)))
            {
                return new AuthorizationDecision(false, Name(policy), $"denied by DENY policy {Name(policy)}");
            }
        }
        if (_allow.Length == 0)
        {
            return AuthorizationDecision.AllowedNoPolicy;
        }
        foreach (var policy in _allow)
        {
            if ((policy.Spec.Rules ?? []).Any(rule => ConnectionRuleMatches(rule, peer, deny: false)))
            {
                return new AuthorizationDecision(true, Name(policy), $"allowed by {Name(policy)}");
            }
        }
        return new AuthorizationDecision(false, null, $"no ALLOW policy matched a TCP connection (applicable: {string.Join(", ", _allow.Select(Name))}; rules with paths, methods or hosts never match TCP)");
    }

    private static bool ConnectionRuleMatches(AuthorizationRule rule, SpiffeId? peer, bool deny)
    {
        if (rule.From.Count > 0 && !rule.From.Any(f => f.Source is { } s && SourceMatches(s, peer)))
        {
            return false;
        }
        var httpOnly = rule.To.Any(t => t.Operation is { } o && (o.Paths ?? o.NotPaths ?? o.Methods ?? o.NotMethods ?? o.Hosts ?? o.NotHosts) is not null);
        return deny || !httpOnly;
    }

    private static string Name(Resource<AuthorizationPolicy> policy) => $"{policy.Metadata.Namespace}/{policy.Metadata.Name}";

    private static (MutualTlsMode, string) ResolveMode(ConfigSet config, string ns, Dictionary<string, string> labels)
    {
        // Most specific first: a selector matching this workload, then its namespace, then the mesh.
        var candidates = config.PeerAuthentications
            .Where(p => p.Metadata.Namespace == ns && p.Spec.Selector is { } s && s.MatchLabels.All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value))
            .Concat(config.PeerAuthentications.Where(p => p.Metadata.Namespace == ns && p.Spec.Selector is null).Take(1))
            .Concat(config.PeerAuthentications.Where(p => p.Metadata.Namespace == RootNamespace && p.Spec.Selector is null).Take(1));
        foreach (var pa in candidates)
        {
            if (pa.Spec.Mtls?.Mode is { } mode and not MutualTlsMode.Unset)
            {
                return (mode, $"PeerAuthentication {pa.Metadata.Namespace}/{pa.Metadata.Name}");
            }
        }
        return (MutualTlsMode.Strict, "default");
    }

    private static bool AnyRuleMatches(AuthorizationPolicy policy, in InboundRequest request)
    {
        foreach (var rule in policy.Rules ?? [])
        {
            if (RuleMatches(rule, request))
            {
                return true;
            }
        }
        return false;
    }

    private static bool RuleMatches(AuthorizationRule rule, in InboundRequest request)
    {
        var peer = request.Peer;
        if (rule.From.Count > 0 && !rule.From.Any(f => f.Source is { } s && SourceMatches(s, peer)))
        {
            return false;
        }
        if (rule.To.Count > 0)
        {
            foreach (var to in rule.To)
            {
                if (to.Operation is { } o && OperationMatches(o, request))
                {
                    return true;
                }
            }
            return false;
        }
        return true;
    }

    private static bool SourceMatches(AuthorizationSource source, SpiffeId? peer)
    {
        var principal = peer?.Principal;
        var ns = peer?.Namespace;
        return Include(source.Principals, principal) && Exclude(source.NotPrincipals, principal)
            && Include(source.Namespaces, ns) && Exclude(source.NotNamespaces, ns);
    }

    private static bool OperationMatches(AuthorizationOperation operation, in InboundRequest request)
    {
        var host = StripPort(request.Host);
        return Include(operation.Paths, request.Path) && Exclude(operation.NotPaths, request.Path)
            && Include(operation.Methods, request.Method) && Exclude(operation.NotMethods, request.Method)
            && IncludeHost(operation.Hosts, host) && ExcludeHost(operation.NotHosts, host);
    }

    private static bool Include(IReadOnlyList<string>? patterns, string? value) =>
        patterns is null || (value is not null && patterns.Any(p => PatternMatches(p, value, StringComparison.Ordinal)));

    private static bool Exclude(IReadOnlyList<string>? patterns, string? value) =>
        patterns is null || value is null || !patterns.Any(p => PatternMatches(p, value, StringComparison.Ordinal));

    private static bool IncludeHost(IReadOnlyList<string>? patterns, string value) =>
        patterns is null || patterns.Any(p => PatternMatches(p, value, StringComparison.OrdinalIgnoreCase));

    private static bool ExcludeHost(IReadOnlyList<string>? patterns, string value) =>
        patterns is null || !patterns.Any(p => PatternMatches(p, value, StringComparison.OrdinalIgnoreCase));

    /// <summary>Istio's string match: exact, "*" (any non-empty value), "prefix*" or "*suffix".</summary>
    public static bool PatternMatches(string pattern, string value, StringComparison comparison)
    {
        if (pattern == "*")
        {
            return value.Length > 0;
        }
        if (pattern.EndsWith('*'))
        {
            return value.StartsWith(pattern[..^1], comparison);
        }
        if (pattern.StartsWith('*'))
        {
            return value.EndsWith(pattern[1..], comparison);
        }
        return string.Equals(pattern, value, comparison);
    }

    private static string StripPort(string host)
    {
        var colon = host.LastIndexOf(':');
        return colon > 0 && host.IndexOf(']') < colon && !host[..colon].Contains(':') ? host[..colon] : host;
    }
}
