namespace Mesh.Core.Routing;

/// <summary>The ordered rules for one host; the first rule that matches wins.</summary>
public sealed class HostRoutes(string host, RouteRule[] rules, bool fromVirtualService)
{
    public string Host { get; } = host;
    public IReadOnlyList<RouteRule> Rules => rules;

    /// <summary>False when the host has no VirtualService and every request goes to its own endpoints.</summary>
    public bool FromVirtualService { get; } = fromVirtualService;

    public RouteRule? Match<TRequest>(in TRequest request) where TRequest : IRouteRequest => Match(request, out _);

    /// <summary>The first rule that matches, and which of its match blocks did (for prefix rewrites).</summary>
    public RouteRule? Match<TRequest>(in TRequest request, out RequestMatcher? block) where TRequest : IRouteRequest
    {
        foreach (var rule in rules)
        {
            if (rule.Matches(request, out block))
            {
                return rule;
            }
        }
        block = null;
        return null;
    }
}
