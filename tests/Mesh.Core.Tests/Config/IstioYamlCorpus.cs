using System.Text.RegularExpressions;

namespace Mesh.Core.Tests.Config;

/// <summary>
/// Istio YAML to start mutations from: the repo's config files and every YAML document written out
/// in the test sources (raw string literals holding a kind and an apiVersion), so the corpus grows
/// with the tests instead of being copied into them.
/// </summary>
internal static partial class IstioYamlCorpus
{
    private static readonly Lazy<string[]> All = new(Collect);

    public static string Root { get; } = FindRoot();

    public static IReadOnlyList<string> Files => All.Value;

    public static string Bookshop => File.ReadAllText(Path.Combine(Root, "config", "bookshop.yaml"));

    private static string[] Collect()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Root, "config"), "*.yaml").Select(File.ReadAllText);
        var literals = Directory.EnumerateFiles(Path.Combine(Root, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .SelectMany(f => RawLiterals(File.ReadAllText(f)));
        var corpus = files.Concat(literals).Where(y => y.Contains("kind:", StringComparison.Ordinal) && y.Contains("apiVersion:", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal).ToArray();
        if (corpus.Length < 10)
        {
            throw new InvalidOperationException($"only {corpus.Length} YAML seeds found under {Root}; the corpus is expected to hold the repo's config and test YAML");
        }
        return corpus;
    }

    /// <summary>Multi-line raw string literals that are not interpolated, with C#'s indentation removed.</summary>
    internal static IEnumerable<string> RawLiterals(string source)
    {
        foreach (Match m in RawLiteral().Matches(source))
        {
            var indent = m.Groups["indent"].Value.Length;
            var lines = m.Groups["body"].Value.Split('\n')
                .Select(l => l.TrimEnd('\r'))
                .Select(l => l.Length >= indent ? l[indent..] : l.TrimStart());
            yield return string.Join('\n', lines) + "\n";
        }
    }

    [GeneratedRegex("(?<![$\"])\"\"\"[ \\t]*\\r?\\n(?<body>.*?)\\r?\\n(?<indent>[ \\t]*)\"\"\"", RegexOptions.Singleline)]
    private static partial Regex RawLiteral();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Mesh.sln not found above " + AppContext.BaseDirectory);
    }
}
