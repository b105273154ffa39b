namespace Mesh.Core.Config.Model;

/// <summary>security.istio.io PeerAuthentication: whether a workload's inbound port takes plaintext too.</summary>
[UnsupportedFields("portLevelMtls", "targetRef", "targetRefs")]
public sealed record PeerAuthentication
{
    public WorkloadSelector? Selector { get; init; }
    public MutualTlsSettings? Mtls { get; init; }
}

public sealed record MutualTlsSettings
{
    public MutualTlsMode? Mode { get; init; }
}

public enum MutualTlsMode
{
    /// <summary>Inherit from the namespace or mesh policy.</summary>
    Unset,
    Disable,
    Permissive,
    Strict,
}

public sealed record WorkloadSelector
{
    public IReadOnlyDictionary<string, string> MatchLabels { get; init; } = new Dictionary<string, string>();
}

/// <summary>security.istio.io AuthorizationPolicy: which callers may call which operations of a workload.</summary>
[UnsupportedFields("targetRef", "targetRefs", "provider")]
public sealed record AuthorizationPolicy
{
    public WorkloadSelector? Selector { get; init; }
    public AuthorizationAction? Action { get; init; }

    /// <summary>Null: no rules field (an ALLOW policy then allows nothing); an empty rule matches every call.</summary>
    public IReadOnlyList<AuthorizationRule>? Rules { get; init; }
}

public enum AuthorizationAction
{
    Allow,
    Deny,
    Audit,
    Custom,
}

[UnsupportedFields("when")]
public sealed record AuthorizationRule
{
    public IReadOnlyList<RuleFrom> From { get; init; } = [];
    public IReadOnlyList<RuleTo> To { get; init; } = [];
}

public sealed record RuleFrom
{
    public AuthorizationSource? Source { get; init; }
}

public sealed record RuleTo
{
    public AuthorizationOperation? Operation { get; init; }
}

[UnsupportedFields("requestPrincipals", "notRequestPrincipals", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks")]
public sealed record AuthorizationSource
{
    public IReadOnlyList<string>? Principals { get; init; }
    public IReadOnlyList<string>? NotPrincipals { get; init; }
    public IReadOnlyList<string>? Namespaces { get; init; }
    public IReadOnlyList<string>? NotNamespaces { get; init; }
}

[UnsupportedFields("ports", "notPorts")]
public sealed record AuthorizationOperation
{
    public IReadOnlyList<string>? Hosts { get; init; }
    public IReadOnlyList<string>? NotHosts { get; init; }
    public IReadOnlyList<string>? Methods { get; init; }
    public IReadOnlyList<string>? NotMethods { get; init; }
    public IReadOnlyList<string>? Paths { get; init; }
    public IReadOnlyList<string>? NotPaths { get; init; }
}
