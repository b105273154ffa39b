using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Mesh.Core.Config.Loading;

/// <summary>
/// Checks a YAML text's shape on the parser's events, before a node tree is built from it: building
/// and binding the tree recurse, so a hostile file must be refused while it is still a flat stream.
/// Refused: nesting deeper than any Istio resource needs (a stack overflow would take the process
/// down), aliases that expand to more nodes than any real config has ("billion laughs"), an alias
/// inside its own anchor (a cycle), and a key twice in one map (YamlDotNet throws without a position).
/// </summary>
internal static class YamlLimits
{
    /// <summary>The deepest Istio resource (an AuthorizationPolicy's rules) nests about 10 levels.</summary>
    internal const int MaxDepth = 64;

    /// <summary>Nodes a document may have once aliases are expanded. The demo's whole config is ~400
    /// nodes; go-yaml (which kubectl uses) refuses excessive aliasing the same way.</summary>
    internal const int MaxExpandedNodes = 100_000;

    private static char? UnpairedSurrogate(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return value[i];
            }
        }
        return null;
    }

    /// <summary>The first problem found, or null; a syntax error is left to the parser's exception.</summary>
    public static ConfigError? Check(string file, string text)
    {
        var parser = new Parser(new StringReader(text));
        var anchors = new Dictionary<string, long>(StringComparer.Ordinal);
        var open = new Stack<Frame>();
        long total = 0;
        while (parser.MoveNext())
        {
            var current = parser.Current!;
            switch (current)
            {
                case DocumentStart:
                    anchors.Clear(); // anchors are scoped to their document
                    total = 0;
                    break;
                case SequenceStart or MappingStart:
                    if (open.Count >= MaxDepth)
                    {
                        return At(file, current.Start, $"YAML nested more than {MaxDepth} levels deep; no Istio resource needs that");
                    }
                    if (KeyProblem(file, open, current) is { } keyProblem)
                    {
                        return keyProblem;
                    }
                    open.Push(new Frame(((NodeEvent)current).Anchor.IsEmpty ? null : ((NodeEvent)current).Anchor.Value, current is MappingStart));
                    break;
                case SequenceEnd or MappingEnd:
                {
                    var done = open.Pop();
                    if (done.Anchor is not null)
                    {
                        anchors[done.Anchor] = done.Size;
                    }
                    if (Add(open, done.Size, ref total))
                    {
                        return TooLarge(file, current.Start);
                    }
                    break;
                }
                case Scalar scalar:
                    if (KeyProblem(file, open, scalar) is { } problem)
                    {
                        return problem;
                    }
                    if (UnpairedSurrogate(scalar.Value) is { } surrogate)
                    {
                        // A "\uD800" escape decodes to half a character: UTF-8 cannot hold it, so the value
                        // saved and served would differ from the one validated (it would come back as U+FFFD).
                        return At(file, scalar.Start, $"invalid Unicode in this value: an unpaired surrogate U+{(int)surrogate:X4} is half a character");
                    }
                    if (!scalar.Anchor.IsEmpty)
                    {
                        anchors[scalar.Anchor.Value] = 1;
                    }
                    if (Add(open, 1, ref total))
                    {
                        return TooLarge(file, current.Start);
                    }
                    break;
                case AnchorAlias alias:
                    if (open.Any(f => f.Anchor == alias.Value.Value))
                    {
                        return At(file, alias.Start, $"alias '*{alias.Value.Value}' is inside its own anchor; a node cannot contain itself");
                    }
                    if (KeyProblem(file, open, alias) is { } aliasKey)
                    {
                        return aliasKey;
                    }
                    // An unknown anchor is the parser's error (with a position), raised when the tree is built.
                    if (Add(open, anchors.GetValueOrDefault(alias.Value.Value, 1), ref total))
                    {
                        return At(file, alias.Start, $"aliases expand this document to more than {MaxExpandedNodes} nodes; write the values out instead of nesting aliases");
                    }
                    break;
            }
        }
        return null;
    }

    /// <summary>Counts a finished child into its parent; true when the document grew past the limit.</summary>
    private static bool Add(Stack<Frame> open, long size, ref long total)
    {
        if (open.TryPeek(out var parent))
        {
            parent.Size = Math.Min(parent.Size + size, MaxExpandedNodes + 1L);
            parent.Children++;
        }
        total = Math.Min(total + size, MaxExpandedNodes + 1L);
        return total > MaxExpandedNodes;
    }

    /// <summary>A plain scalar key seen before in the same map; the event is not yet counted as a child.</summary>
    private static ConfigError? KeyProblem(string file, Stack<Frame> open, ParsingEvent key)
    {
        if (!open.TryPeek(out var map) || !map.IsMap || map.Children % 2 != 0)
        {
            return null;
        }
        if (key is AnchorAlias alias)
        {
            // YamlDotNet recurses without end comparing an alias key while it resolves aliases (a stack
            // overflow kills the process: found by ConfigLoaderFuzzTests in a CI run). No Istio key is one.
            return At(file, alias.Start, $"alias '*{alias.Value.Value}' used as a map key; keys must be plain strings");
        }
        if (key is not Scalar scalar)
        {
            return null;
        }
        map.Keys ??= new Dictionary<string, Mark>(StringComparer.Ordinal);
        if (map.Keys.TryGetValue(scalar.Value, out var first))
        {
            return At(file, scalar.Start, $"key '{scalar.Value}' appears twice in this map (first at line {first.Line}); YAML keys must be unique");
        }
        map.Keys[scalar.Value] = scalar.Start;
        return null;
    }

    private static ConfigError TooLarge(string file, Mark at) =>
        At(file, at, $"this document has more than {MaxExpandedNodes} nodes with its aliases expanded; split it or write aliases out");

    private static ConfigError At(string file, Mark mark, string message) =>
        new(file, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column), "", "YAML refused: " + message);

    private sealed class Frame(string? anchor, bool isMap)
    {
        public string? Anchor { get; } = anchor;
        public bool IsMap { get; } = isMap;
        public long Size { get; set; } = 1;
        public int Children { get; set; }
        public Dictionary<string, Mark>? Keys { get; set; }
    }
}
