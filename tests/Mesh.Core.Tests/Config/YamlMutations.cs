using System.Text;
using CsCheck;

namespace Mesh.Core.Tests.Config;

/// <summary>One edit to a YAML text; positions are taken modulo the text's size when applied.</summary>
internal sealed record YamlMutation(YamlMutation.Edit Kind, int A, int B, string Payload)
{
    public enum Edit
    {
        DeleteLine,
        DuplicateLine,
        ReplaceKey,
        SwapLines,
        Reindent,
        TabIndent,
        InsertText,
        ReplaceScalar,
        InsertLine,
        Truncate,
        DuplicateBlock,
        AnchorAndAlias,
        Bom,
        CarriageReturns,
    }

    public string Apply(string text)
    {
        var lines = text.Split('\n').ToList();
        int Line(int n) => lines.Count == 0 ? 0 : Math.Abs(n % lines.Count);
        switch (Kind)
        {
            case Edit.DeleteLine when lines.Count > 0:
                lines.RemoveAt(Line(A));
                break;
            case Edit.DuplicateLine when lines.Count > 0:
                lines.Insert(Line(A), lines[Line(A)]);
                break;
            case Edit.SwapLines when lines.Count > 0:
                (lines[Line(A)], lines[Line(B)]) = (lines[Line(B)], lines[Line(A)]);
                break;
            case Edit.Reindent when lines.Count > 0:
            {
                var i = Line(A);
                var delta = B % 5;
                lines[i] = delta >= 0 ? new string(' ', delta) + lines[i] : lines[i][Math.Min(-delta, lines[i].Length - lines[i].TrimStart().Length)..];
                break;
            }
            case Edit.ReplaceKey when lines.Count > 0:
            {
                var i = Line(A);
                var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
                var indent = lines[i].Length - lines[i].TrimStart(' ', '-').Length;
                if (colon > indent)
                {
                    lines[i] = lines[i][..indent] + Payload + lines[i][colon..];
                }
                break;
            }
            case Edit.TabIndent when lines.Count > 0:
                lines[Line(A)] = "\t" + lines[Line(A)].TrimStart(' ');
                break;
            case Edit.InsertText:
            {
                var at = text.Length == 0 ? 0 : Math.Abs(A % (text.Length + 1));
                return text[..at] + Payload + text[at..];
            }
            case Edit.ReplaceScalar when lines.Count > 0:
            {
                var i = Line(A);
                var colon = lines[i].IndexOf(": ", StringComparison.Ordinal);
                var dash = lines[i].IndexOf("- ", StringComparison.Ordinal);
                var cut = colon >= 0 ? colon + 2 : dash >= 0 ? dash + 2 : lines[i].Length - lines[i].TrimStart().Length;
                lines[i] = lines[i][..cut] + Payload;
                break;
            }
            case Edit.InsertLine:
                lines.Insert(lines.Count == 0 ? 0 : Math.Abs(A % (lines.Count + 1)), Payload);
                break;
            case Edit.Truncate:
                return text[..(text.Length == 0 ? 0 : Math.Abs(A % text.Length))];
            case Edit.DuplicateBlock when lines.Count > 0:
            {
                var from = Line(A);
                var count = Math.Min(lines.Count - from, 1 + Math.Abs(B % 12));
                lines.InsertRange(from + count, lines.GetRange(from, count));
                break;
            }
            case Edit.AnchorAndAlias when lines.Count > 0:
            {
                var (anchor, alias) = (Line(A), Line(B));
                var colon = lines[anchor].IndexOf(':', StringComparison.Ordinal);
                if (colon >= 0)
                {
                    lines[anchor] = lines[anchor][..(colon + 1)] + " &" + Payload + lines[anchor][(colon + 1)..];
                }
                var target = lines[alias].IndexOf(": ", StringComparison.Ordinal);
                lines[alias] = target >= 0 ? lines[alias][..(target + 2)] + "*" + Payload : lines[alias] + " *" + Payload;
                break;
            }
            case Edit.Bom:
                return "\uFEFF" + (A % 2 == 0 ? text : text.Insert(Math.Abs(B % (text.Length + 1)), "\uFEFF"));
            case Edit.CarriageReturns:
                return A % 3 == 0 ? text.Replace("\n", "\r\n", StringComparison.Ordinal) : A % 3 == 1 ? text.Replace("\n", "\r", StringComparison.Ordinal) : text.Replace("\n", "\u2028", StringComparison.Ordinal);
        }
        return string.Join('\n', lines);
    }

    public override string ToString() => $"{Kind}({A}, {B}, {Printable(Payload)})";

    internal static string Printable(string s, int max = 80)
    {
        var shown = s.Length > max ? s[..max] + $"...({s.Length} chars)" : s;
        var b = new StringBuilder();
        foreach (var c in shown)
        {
            b.Append(c is >= ' ' and < (char)0x7f ? c.ToString() : $"\\u{(int)c:X4}");
        }
        return b.ToString();
    }
}

/// <summary>Generators of broken YAML: mutated corpus files and hand-made hostile documents.</summary>
internal static class YamlMutations
{
    /// <summary>Values that trip parsers and binders: other types, overflows, odd durations, tags, anchors.</summary>
    private static readonly string[] HostileScalars =
    [
        "", "''", "\"\"", "~", "null", "0", "-1", "-0", "1e309", "-1e309", ".nan", "NaN", ".inf", "-.inf", "Infinity",
        "99999999999999999999", "-99999999999999999999", "2147483648", "-2147483649", "9223372036854775808",
        "0x1F", "0o17", "1_000", "1.5", "true", "yes", "on", "-5s", "-1ms", "1e400s", "99999999999999999999h",
        "999999999999999h", "1.7976931348623157e308s", "0.0000001ns", "5 s", "1h-1m", "s", "..s", "1..5s", "10x",
        "[]", "[1, 2]", "[[[]]]", "{}", "{a: b}", "{a: {b: {c: d}}}", "- a", "? x", "*nosuchanchor", "&a", "&a *a",
        "!!binary aGVsbG8=", "!!int x", "!!map {}", "!custom tag", "!!null", "|", ">-", "|-\n  text", "\"\\u0000\"",
        "\"\\uD800\"", "\"\\x00\"", "'\t'", "\"unterminated", "'unterminated", "@", "`", "%", "#", "a: b: c",
        "日本語", "😀😀😀", "\u202Eevil", "\u0000", "\u0085", "\u2028", "\uFFFE", "\uD800", "\uDC00", "%YAML 1.1",
        new string('a', 70_000), new string('9', 5_000), "[" + string.Join(", ", Enumerable.Range(0, 2000)) + "]",
        "reviews.default.svc.cluster.local", "*.example.com", "*", "**", "-", ".", "..", "/", "^(a+)+$", "(?<=a)b", "(",
        "[a-", "\\", "\\p{", "ROUND_ROBIN", "STRICT", "PERMISSIVE", "DENY", "ALLOW", "0.0.0.0", "::1", "[::1]:80",
        "256.1.1.1", "65536", "0", "-80", "a/b/c", "us-east/a/*/x", "region/*",
    ];

    /// <summary>Map keys that are not plain strings, or that repeat a neighbour.</summary>
    private static readonly string[] HostileKeys =
    [
        "[a]", "[a, b]", "{a: b}", "? [a]", "? {a: b}\n", "''", "\"\"", "~", "null", "1", "1.5", "true", "<<", "*a", "&k key",
        "!!str name", "!!int 1", "name", "host", "hosts", "spec", "kind", "metadata", "? name", "\"na\\u006De\"", "version",
    ];

    /// <summary>Whole lines to insert: document markers, directives, duplicate keys, odd keys.</summary>
    private static readonly string[] HostileLines =
    [
        "---", "...", "--- !!map", "%YAML 1.2", "%TAG ! tag:example.com,2000:", "&anchor", "*alias", "? [a, b]", ": value",
        "? {a: b}\n: c", "{[a]: b}", "kind: VirtualService", "spec: {}", "metadata: {name: x}", "apiVersion: v1",
        "<<: *base", "spec:", "  hosts: [a, a]", "\t", " ", "#", "- ", "- - -", "[", "]", "{", "}", "'", "\"",
        "status: {}", "extra: field", "spec: [1, 2]", "metadata: []", "kind: [VirtualService]", "kind: {a: b}",
        "kind: Unknown", "apiVersion: networking.istio.io/v9", "metadata: {name: ''}", "metadata: {name: [x]}",
        "\uFEFF---", "---\n---\n---", "... # end", "--- |\n  text",
    ];

    public static readonly Gen<string> Payload = Gen.OneOf(
        Gen.OneOf<string>(HostileScalars),
        Gen.Char.Array[0, 12].Select(c => new string(c)),                       // any UTF-16 unit, lone surrogates too
        Gen.Char['\0', '\u007f'].Array[0, 8].Select(c => new string(c)),        // ASCII with control characters
        Gen.String);

    private static readonly Gen<string> AnchorName = Gen.OneOf(Gen.OneOf<string>("a", "base", "x1"), Gen.Char.AlphaNumeric.Array[1, 6].Select(c => new string(c)));

    public static readonly Gen<YamlMutation> Mutation =
        Gen.Enum<YamlMutation.Edit>().SelectMany(kind =>
            Gen.Select(Gen.Int, Gen.Int,
                kind switch
                {
                    YamlMutation.Edit.InsertLine => Gen.OneOf(Gen.OneOf<string>(HostileLines), Payload),
                    YamlMutation.Edit.AnchorAndAlias => AnchorName,
                    YamlMutation.Edit.ReplaceKey => Gen.OneOf(Gen.OneOf<string>(HostileKeys), Payload),
                    _ => Payload,
                },
                (a, b, payload) => new YamlMutation(kind, a, b, payload)));

    /// <summary>A corpus file with one to five mutations applied in turn.</summary>
    public static Gen<(int Seed, YamlMutation[] Edits)> Mutated(int corpusSize) =>
        Gen.Select(Gen.Int[0, corpusSize - 1], Mutation.Array[1, 5]);

    /// <summary>Documents built to be expensive: alias bombs, self-referencing aliases, deep nesting, many documents, long lines.</summary>
    public static readonly Gen<string> Hostile = Gen.OneOf(
        Gen.Select(Gen.Int[2, 12], Gen.Int[2, 10], Gen.Bool, (levels, width, inSpec) => AliasBomb(levels, width, inSpec)),
        Gen.OneOf<string>(
            "a: &a [*a]\n", "a: &a {b: *a}\n",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec: &s\n  hosts: *s\n",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: &m {name: r}\nspec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}\n---\nkind: VirtualService\napiVersion: networking.istio.io/v1\nmetadata: *m\n"),
        Gen.Select(Gen.Int[50, 20_000], Gen.OneOf<string>("[", "{a: ", "- "), (depth, open) => Nested(depth, open)),
        Gen.Int[100, 5_000].Select(n => string.Concat(Enumerable.Repeat("---\n", n))),
        Gen.Int[1_000, 200_000].Select(n => "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: " + new string('r', n) + "}\nspec: {hosts: [reviews]}\n"),
        Gen.Int[10, 40].Select(n => "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [reviews]\n  http:\n"
            + string.Concat(Enumerable.Range(0, n).Select(i => $"  - match: [{{uri: {{regex: '(a|b)*c{i}'}}}}]\n    route: [{{destination: {{host: reviews}}}}]\n"))));

    /// <summary>"Billion laughs": each level an anchored list of <paramref name="width"/> aliases to the level before.</summary>
    public static string AliasBomb(int levels, int width, bool inSpec)
    {
        var b = new StringBuilder();
        if (inSpec)
        {
            b.Append("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [reviews]\n  exportTo:\n");
        }
        var indent = inSpec ? "  " : "";
        b.Append(indent).Append("- &l0 lol\n");
        for (var level = 1; level <= levels; level++)
        {
            b.Append(indent).Append($"- &l{level} [").Append(string.Join(", ", Enumerable.Repeat($"*l{level - 1}", width))).Append("]\n");
        }
        return b.ToString();
    }

    private static string Nested(int depth, string open) => open == "- "
        ? string.Concat(Enumerable.Range(0, depth).Select(i => new string(' ', i * 2) + "-\n")) + new string(' ', depth * 2) + "x\n"
        : string.Concat(Enumerable.Repeat(open, depth)) + "x" + string.Concat(Enumerable.Repeat(open == "[" ? "]" : "}", depth)) + "\n";
}
