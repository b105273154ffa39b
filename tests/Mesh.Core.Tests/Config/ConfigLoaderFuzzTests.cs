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
                ProblemPlacement.AssertPlaced(problems, FileName, text);
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
        ProblemPlacement.AssertPlaced(result.Problems, FileName, text);
        if (result.Config is not null)
        {
            // An accepted set is what the control plane saves and serves as JSON: it must serialize.
            JsonSerializer.Serialize(result.Config, MeshJson.Options);
        }
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
