using Mesh.Core.Config.Model;
using Mesh.Core.Resilience;

namespace Mesh.Core.Routing;

/// <summary>A weighted destination of a rule: the cluster (host, subset) it sends to, with its own header changes.</summary>
public sealed record WeightedDestination(string ClusterId, string Host, string? Subset, int Weight)
{
    public HeaderEdits? RequestHeaders { get; init; }
    public HeaderEdits? ResponseHeaders { get; init; }
}

/// <summary>
/// One compiled VirtualService http rule: its match blocks and what to do with a request that matches
/// (forward to a weighted destination, redirect, or answer directly), plus the changes made on the way.
/// Immutable and shared by every request.
/// </summary>
public sealed class RouteRule
{
    private readonly RequestMatcher[] _matchers;
    private readonly WeightedDestination[] _destinations;
    private readonly int _totalWeight;

    public RouteRule(string? name, RequestMatcher[] matchers, WeightedDestination[] destinations)
    {
        Name = name;
        _matchers = matchers;
        _destinations = destinations;
        _totalWeight = destinations.Sum(d => d.Weight);
    }

    public string? Name { get; }
    public IReadOnlyList<WeightedDestination> Destinations => _destinations;
    public IReadOnlyList<RequestMatcher> Matchers => _matchers;

    /// <summary>Whole-call timeout; null means none (Istio's default), as does zero.</summary>
    public TimeSpan? Timeout { get; init; }
    public HttpRetry? Retries { get; init; }

    /// <summary>The retries the sidecar makes: the rule's, or Istio's default when it sets none.</summary>
    public RetryPolicy RetryPolicy { get; init; } = RetryPolicy.IstioDefault;
    public RedirectAction? Redirect { get; init; }
    public DirectResponseAction? DirectResponse { get; init; }
    public RewriteAction? Rewrite { get; init; }
    public FaultAction? Fault { get; init; }
    public MirrorAction? Mirror { get; init; }
    public HeaderEdits? RequestHeaders { get; init; }
    public HeaderEdits? ResponseHeaders { get; init; }

    /// <summary>True when any match block holds (or there are none).</summary>
    public bool Matches<TRequest>(in TRequest request) where TRequest : IRouteRequest => Matches(request, out _);

    /// <summary>True when any match block holds; <paramref name="block"/> is the first that did (null when the rule has none).</summary>
    public bool Matches<TRequest>(in TRequest request, out RequestMatcher? block) where TRequest : IRouteRequest
    {
        block = null;
        if (_matchers.Length == 0)
        {
            return true;
        }
        foreach (var matcher in _matchers)
        {
            if (matcher.Matches(request))
            {
                block = matcher;
                return true;
            }
        }
        return false;
    }

    /// <summary>Picks a destination with probability proportional to its weight.</summary>
    public WeightedDestination Pick(Random random)
    {
        if (_destinations.Length == 1 || _totalWeight == 0)
        {
            return _destinations[0];
        }
        var roll = random.Next(_totalWeight);
        foreach (var destination in _destinations)
        {
            roll -= destination.Weight;
            if (roll < 0)
            {
                return destination;
            }
        }
        return _destinations[^1];
    }
}
