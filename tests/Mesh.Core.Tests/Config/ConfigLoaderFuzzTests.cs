using System.Text.Json;
using CsCheck;
using Mesh.Core.Config.Loading;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Config;

/// <summary>
/// Throws mutated and hostile YAML at the loader. A failure prints the generated input and CsCheck's
/// seed; set <c>CsCheck_Seed</c> to that seed (or pass it as <c>seed:</c>) to replay it.
/// </summary>
public sealed class ConfigLoaderFuzzTests
{
    private const string FileName = "fuzz.yaml";

    // A few thousand inputs per property keeps each under ~10 s on the 2-core CI machine.
    private const int MutationIterations = 3_000;
    private const int HostileIterations = 100;

    private static readonly IReadOnlyList<string> Corpus = IstioYamlCorpus.Files;

    [Fact]
    public void Corpus_HoldsConfigDirAndTestYaml()
    {
        Assert.Contains(Corpus, y => y.Contains("name: storefront", StringComparison.Ordinal)); // config/bookshop.yaml
        Assert.Contains(Corpus, y => y.Contains("kind: AuthorizationPolicy", StringComparison.Ordinal));
        Assert.Contains(Corpus, y => y.Contains("kind: ServiceEntry", StringComparison.Ordinal));
        Assert.True(Corpus.Count >= 30, $"corpus has {Corpus.Count} files");
    }

    [Fact]
    public void Load_MutatedIstioYaml_NeverThrowsAndPlacesEveryErrorInTheFile()
    {
        YamlMutations.Mutated(Corpus.Count).Sample(
            input => AssertLoadsCleanly(Apply(input)),
            iter: MutationIterations,
            print: input => Describe(input));
    }

    [Fact]
    public void Load_HostileYaml_IsRefusedWithAPosition()
    {
        YamlMutations.Hostile.Sample(
            text => AssertLoadsCleanly(text),
            iter: HostileIterations,
            print: text => YamlMutation.Printable(text, max: 3000));
    }

    [Fact]
    public void SplitDocuments_MutatedIstioYaml_NeverThrowsAndPlacesEveryErrorInTheFile()
    {
        YamlMutations.Mutated(Corpus.Count).Sample(
            input =>
            {
                var text = Apply(input);
                var (_, problems) = ConfigLoader.SplitDocuments(FileName, text);
                AssertPlaced(problems, text);
            },
            iter: MutationIterations / 2,
            print: input => Describe(input));
    }

    [Fact]
    public void Load_BadFile_LeavesEarlierResultUnchanged()
    {
        // The loader is the only thing between a bad file and the running config, so it must be pure:
        // nothing a later load does may reach into a set it returned before.
        var accepted = ConfigLoader.Load([("bookshop.yaml", IstioYamlCorpus.Bookshop)]);
        Assert.True(accepted.Succeeded, string.Join("\n", accepted.Problems));
        var before = JsonSerializer.Serialize(accepted.Config, MeshJson.Options);

        YamlMutations.Mutated(Corpus.Count).Sample(
            input =>
            {
                ConfigLoader.LoadLayers([new ConfigFile("bookshop.yaml", IstioYamlCorpus.Bookshop), new ConfigFile(FileName, Apply(input), Layer: 1)]);
                Assert.Equal(before, JsonSerializer.Serialize(accepted.Config, MeshJson.Options));
            },
            iter: MutationIterations / 3,
            print: input => Describe(input));
    }

    internal static void AssertLoadsCleanly(string text)
    {
        var result = ConfigLoader.Load([(FileName, text)]);
        Assert.Equal(result.Errors.Any(), !result.Succeeded);
        AssertPlaced(result.Problems, text);
        if (result.Config is not null)
        {
            // An accepted set is what the control plane saves and serves as JSON: it must serialize.
            JsonSerializer.Serialize(result.Config, MeshJson.Options);
        }
    }

    /// <summary>Every problem names this file and a line and column inside it, and reads as file:line:column.</summary>
    internal static void AssertPlaced(IEnumerable<ConfigError> problems, string text)
    {
        var lines = Lines(text);
        foreach (var p in problems)
        {
            Assert.Equal(FileName, p.File);
            Assert.True(p.Line >= 1 && p.Line <= lines.Count + 1, $"line {p.Line} outside 1..{lines.Count + 1}: {p}");
            var width = p.Line <= lines.Count ? lines[p.Line - 1] : 0;
            Assert.True(p.Column >= 1 && p.Column <= width + 1, $"column {p.Column} outside 1..{width + 1} of line {p.Line}: {p}");
            Assert.StartsWith($"{FileName}:{p.Line}:{p.Column}:", p.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", p.Message, StringComparison.Ordinal); // a stack trace is not an error message
        }
    }

    /// <summary>Line lengths as YAML counts lines: \r\n, \r, \n, NEL, LS and PS each end one.</summary>
    private static List<int> Lines(string text)
    {
        var lengths = new List<int>();
        var length = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\n' or '\r' or '\u0085' or '\u2028' or '\u2029')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }
                lengths.Add(length);
                length = 0;
            }
            else
            {
                length++;
            }
        }
        lengths.Add(length);
        return lengths;
    }

    internal static string Apply((int Seed, YamlMutation[] Edits) input) =>
        input.Edits.Aggregate(Corpus[input.Seed], (text, edit) => edit.Apply(text));

    private static string Describe((int Seed, YamlMutation[] Edits) input)
    {
        var text = Apply(input);
        return $"corpus[{input.Seed}] + {string.Join(" + ", input.Edits.Select(e => e.ToString()))}\n--- result ({text.Length} chars) ---\n"
            + YamlMutation.Printable(text, max: 3000);
    }
}
