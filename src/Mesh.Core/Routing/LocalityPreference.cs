using Mesh.Core.Config.Model;

namespace Mesh.Core.Routing;

/// <summary>
/// Istio's locality load balancing over the endpoints that may take a request: with <c>distribute</c>,
/// a locality is chosen by the configured weights; otherwise the caller's own zone is preferred, then
/// its region, then the region <c>failover</c> names, then anywhere. Endpoints that are unhealthy are
/// never in the list, so when a locality has none left, traffic moves to the next one.
/// </summary>
public static class LocalityPreference
{
    public static IReadOnlyList<T> Select<T>(IReadOnlyList<T> endpoints, Func<T, (string? Region, string? Zone)> locality,
        string? callerRegion, string? callerZone, LocalityLbSetting setting, Random random)
    {
        if (endpoints.Count <= 1)
        {
            return endpoints;
        }
        if (setting.Distribute.Count > 0
            && setting.Distribute.FirstOrDefault(d => Matches(d.From, callerRegion, callerZone)) is { } distribute
            && Distribute(endpoints, locality, distribute, random) is { Count: > 0 } chosen)
        {
            return chosen;
        }
        var failoverRegion = setting.Failover.FirstOrDefault(f => f.From == callerRegion)?.To;
        var best = int.MaxValue;
        foreach (var endpoint in endpoints)
        {
            best = Math.Min(best, Tier(locality(endpoint), callerRegion, callerZone, failoverRegion));
        }
        var preferred = new List<T>(endpoints.Count);
        foreach (var endpoint in endpoints)
        {
            if (Tier(locality(endpoint), callerRegion, callerZone, failoverRegion) == best)
            {
                preferred.Add(endpoint);
            }
        }
        return preferred.Count == endpoints.Count ? endpoints : preferred;
    }

    /// <summary>0: same zone; 1: same region; 2: the failover region; 3: anywhere else.</summary>
    public static int Tier((string? Region, string? Zone) endpoint, string? callerRegion, string? callerZone, string? failoverRegion)
    {
        var sameRegion = string.Equals(endpoint.Region ?? "", callerRegion ?? "", StringComparison.Ordinal);
        if (sameRegion && string.Equals(endpoint.Zone ?? "", callerZone ?? "", StringComparison.Ordinal))
        {
            return 0;
        }
        if (sameRegion)
        {
            return 1;
        }
        return failoverRegion is not null && endpoint.Region == failoverRegion ? 2 : 3;
    }

    /// <summary>Whether a locality pattern ("region", "region/zone", "region/*", "*") covers a locality.</summary>
    public static bool Matches(string pattern, string? region, string? zone)
    {
        var parts = pattern.Split('/');
        if (parts[0] == "*")
        {
            return true;
        }
        if (parts[0] != (region ?? ""))
        {
            return false;
        }
        return parts.Length < 2 || parts[1] == "*" || parts[1] == (zone ?? "");
    }

    private static List<T>? Distribute<T>(IReadOnlyList<T> endpoints, Func<T, (string? Region, string? Zone)> locality, LocalityDistribute distribute, Random random)
    {
        // Only localities that have endpoints take part; their weights are scaled up to the whole.
        var candidates = distribute.To
            .Where(to => to.Value > 0 && endpoints.Any(e => Matches(to.Key, locality(e).Region, locality(e).Zone)))
            .ToArray();
        var total = candidates.Sum(c => c.Value);
        if (total == 0)
        {
            return null;
        }
        var roll = random.Next(total);
        var pattern = candidates[^1].Key;
        foreach (var (key, weight) in candidates)
        {
            roll -= weight;
            if (roll < 0)
            {
                pattern = key;
                break;
            }
        }
        return endpoints.Where(e => Matches(pattern, locality(e).Region, locality(e).Zone)).ToList();
    }
}
