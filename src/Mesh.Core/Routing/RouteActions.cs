using Mesh.Core.Config.Model;

namespace Mesh.Core.Routing;

/// <summary>Compiled header changes: removes first, then sets (replace), then adds (append).</summary>
public sealed class HeaderEdits
{
    private HeaderEdits(KeyValuePair<string, string>[] set, KeyValuePair<string, string>[] add, string[] remove)
    {
        Set = set;
        Add = add;
        Remove = remove;
    }

    public IReadOnlyList<KeyValuePair<string, string>> Set { get; }
    public IReadOnlyList<KeyValuePair<string, string>> Add { get; }
    public IReadOnlyList<string> Remove { get; }

    public static HeaderEdits? From(HeaderOperations? operations) =>
        operations is null || (operations.Set.Count == 0 && operations.Add.Count == 0 && operations.Remove.Count == 0)
            ? null
            : new HeaderEdits(operations.Set.ToArray(), operations.Add.ToArray(), operations.Remove.ToArray());
}

/// <summary>Answer with a redirect; parts left null keep the request's.</summary>
public sealed record RedirectAction(string? Uri, string? Authority, int? Port, string? Scheme, int Status);

/// <summary>Answer with a fixed status and body.</summary>
public sealed record DirectResponseAction(int Status, byte[] Body, bool IsText);

/// <summary>Path and authority rewrite before forwarding.</summary>
public sealed record RewriteAction(string? Uri, string? Authority)
{
    /// <summary>The path to forward: the matched uri prefix replaced, or the whole path when the rule did
    /// not match on a prefix (Istio's semantics).</summary>
    public string RewritePath(string path, string? matchedPrefix)
    {
        if (Uri is null)
        {
            return path;
        }
        if (matchedPrefix is not null && path.StartsWith(matchedPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var rest = path[matchedPrefix.Length..];
            // "/reviews/1" with prefix "/reviews/" rewritten to "/" must not become "//1".
            return Uri.EndsWith('/') && rest.StartsWith('/') ? Uri + rest[1..] : Uri + rest;
        }
        return Uri;
    }
}

/// <summary>Fault injection: a delay and/or an abort, each for a share of requests.</summary>
public sealed record FaultAction(TimeSpan Delay, double DelayPercent, int AbortStatus, double AbortPercent)
{
    public static FaultAction? From(HttpFaultInjection? fault)
    {
        if (fault is null)
        {
            return null;
        }
        // A fault written without a percentage applies to every request it matches.
        var delayPercent = fault.Delay is null ? 0 : fault.Delay.Percentage?.Value ?? fault.Delay.Percent ?? 100;
        var abortPercent = fault.Abort is null ? 0 : fault.Abort.Percentage?.Value ?? fault.Abort.Percent ?? 100;
        return new FaultAction(fault.Delay?.FixedDelay ?? TimeSpan.Zero, delayPercent, fault.Abort?.HttpStatus ?? 0, abortPercent);
    }

    public bool ShouldDelay(Random random) => Delay > TimeSpan.Zero && Roll(random, DelayPercent);

    public bool ShouldAbort(Random random) => AbortStatus > 0 && Roll(random, AbortPercent);

    internal static bool Roll(Random random, double percent) => percent >= 100 || (percent > 0 && random.NextDouble() * 100 < percent);
}

/// <summary>Send a copy of a share of requests to another cluster and drop its answer.</summary>
public sealed record MirrorAction(string ClusterId, string Host, string? Subset, double Percent)
{
    public bool ShouldMirror(Random random) => FaultAction.Roll(random, Percent);
}
