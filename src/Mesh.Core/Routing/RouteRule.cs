using Mesh.Core.Config.Model;

namespace Mesh.Core.Routing;

/// <summary>A weighted destination of a rule: the cluster (host, subset) it sends to.</summary>
public sealed record WeightedDestination(string ClusterId, string Host, string? Subset, int Weight);

/// <summary>One compiled VirtualService http rule.</summary>
public sealed class RouteRule
{
    private readonly RequestMatcher[] _matchers;
    private readonly WeightedDestination[] _destinations;
    private readonly int _totalWeight;

    public RouteRule(string? name, RequestMatcher[] matchers, WeightedDestination[] destinations, TimeSpan? timeout = null, HttpRetry? retries = null)
    {
        Name = name;
        _matchers = matchers;
        _destinations = destinations;
        _totalWeight = destinations.Sum(d => d.Weight);
        Timeout = timeout;
        Retries = retries;
    }

    public string? Name { get; }
    public TimeSpan? Timeout { get; }
    public HttpRetry? Retries { get; }
    public IReadOnlyList<WeightedDestination> Destinations => _destinations;

    /// <summary>True when any match block holds (or there are none).</summary>
    public bool Matches<TRequest>(in TRequest request) where TRequest : IRouteRequest
    {
        if (_matchers.Length == 0)
        {
            return true;
        }
        foreach (var matcher in _matchers)
        {
            if (matcher.Matches(request))
            {
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
