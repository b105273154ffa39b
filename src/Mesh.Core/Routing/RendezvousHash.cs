namespace Mesh.Core.Routing;

/// <summary>
/// Consistent hashing by highest random weight: every endpoint scores hash(key, endpoint id) and the
/// highest wins. The same key picks the same endpoint in every sidecar, and when an endpoint leaves
/// only the keys it held move. The hash is FNV-1a with a final mix, stable across processes.
/// </summary>
public static class RendezvousHash
{
    public static T Pick<T>(IReadOnlyList<T> endpoints, string key, Func<T, string> id)
    {
        var keyHash = Hash(key, 14695981039346656037UL);
        var best = endpoints[0];
        var bestScore = 0UL;
        for (var i = 0; i < endpoints.Count; i++)
        {
            var score = Mix(Hash(id(endpoints[i]), keyHash));
            if (i == 0 || score > bestScore)
            {
                best = endpoints[i];
                bestScore = score;
            }
        }
        return best;
    }

    private static ulong Hash(string text, ulong seed)
    {
        var hash = seed;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }
        return hash;
    }

    /// <summary>SplitMix64's finaliser: spreads FNV's weak low bits over the whole word.</summary>
    private static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
        return x ^ (x >> 31);
    }
}
