using System.Text.Json;
using CsCheck;
using Mesh.ControlPlane.Config;
using Mesh.ControlPlane.Config.History;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Mesh.Core.Tests.Config;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.ControlPlane.Tests.Config;

/// <summary>
/// Runs random sequences of admin edits (apply, delete, validate of valid, mutated and badly named
/// Istio YAML) against a <see cref="ConfigStore"/> on real directories. The store is what stands
/// between an operator's typo and every sidecar, so a rejected edit must leave no trace at all: not in
/// the version, not in the served config, not on disk (where the next restart would pick it up).
/// A failure prints the operations and CsCheck's seed; set <c>CsCheck_Seed</c> to replay it.
/// </summary>
public sealed class ConfigStorePropertyTests
{
    // Each sequence starts two stores on fresh directories and every accepted edit is fsynced: a
    // thousand sequences (about 6,500 edits) take ~10 s on the 2-core CI machine.
    private const int Sequences = 1000;

    private const string DirectoryFile = "bookshop.yaml";

    private static readonly IReadOnlyList<string> Corpus = IstioYamlCorpus.Files;

    // Corpus files that the store accepts on top of the bookshop config, so sequences also move the
    // config forward and delete what they applied, instead of only being refused.
    private static readonly IReadOnlyList<string> Acceptable = Corpus
        .Where(y => ConfigLoader.LoadLayers([new ConfigFile(DirectoryFile, IstioYamlCorpus.Bookshop), new ConfigFile("candidate.yaml", y, Layer: 2)], new HashSet<string>()).Succeeded)
        .ToArray();

    private enum Op
    {
        Apply,
        Delete,
        Validate,
    }

    /// <summary>One admin call; a delete may name an earlier operation (<paramref name="Earlier"/>, modulo
    /// its index) to post that one's text, since deleting what was never applied is only ever refused.</summary>
    private sealed record Operation(Op Kind, string FileName, string Text, int? Earlier = null)
    {
        public override string ToString() =>
            $"{Kind} {FileName}{(Earlier is { } e ? $" (the text of #{e + 1})" : "")}\n{YamlMutation.Printable(Text, max: 1500)}";
    }

    // The directory's own file name too: the admin API takes whatever ?file= names.
    private static readonly Gen<string> FileName = Gen.OneOf<string>("edit.yaml", "other.yaml", DirectoryFile);

    // Names the store turns into file names under data-dir/applied: dotted ones that could collide once
    // joined with dots, and ones that climb out of the folder.
    private static readonly Gen<(string Namespace, string Name)> ResourceName = Gen.OneOf<(string, string)>(
        ("default", "extra"), ("shop", "extra"), ("a.b", "c"), ("a", "b.c"),
        ("default", "x/../../../config/bookshop"), ("default", "../config.json"), ("..", "x"), ("default", "Extra"),
        // Longer than one file name allows once joined (valid: Kubernetes allows 253), and longer than that.
        ("default", new string('r', 200)), ("default", new string('r', 200) + "-2"), ("default", new string('r', 254)));

    private static readonly Gen<string> Text = Gen.Frequency(
        (3, Gen.Int[0, Acceptable.Count - 1].Select(i => Acceptable[i])),
        (3, YamlMutations.Mutated(Corpus.Count).Select(m => m.Edits.Aggregate(Corpus[m.Seed], (text, edit) => edit.Apply(text)))),
        // One edit to a file that validates: the YAML most likely to pass the check while splitting oddly.
        (2, Gen.Select(Gen.Int[0, Acceptable.Count - 1], YamlMutations.Mutation, (i, edit) => edit.Apply(Acceptable[i]))),
        (2, ResourceName.Array[1, 2].Select(names => string.Join("---\n", names.Select(n => VirtualService(n.Namespace, n.Name))))));

    private static readonly Gen<Operation> Operations = Gen.Frequency(
        (4, Gen.Select(FileName, Text, (file, text) => new Operation(Op.Apply, file, text))),
        (2, Gen.Select(FileName, Gen.Int[0, 100], (file, earlier) => new Operation(Op.Delete, file, "", earlier))),
        (1, Gen.Select(FileName, Text, (file, text) => new Operation(Op.Delete, file, text))),
        (1, Gen.Select(FileName, Text, (file, text) => new Operation(Op.Validate, file, text))));

    private static readonly Gen<Operation[]> Sequence = Operations.Array[1, 12].Select(Resolve);

    /// <summary>Gives deletes of an earlier operation that one's text; the first operation has no earlier one to name.</summary>
    private static Operation[] Resolve(Operation[] operations)
    {
        var resolved = new List<Operation>();
        foreach (var operation in operations)
        {
            resolved.Add(operation.Earlier is not { } earlier ? operation
                : resolved.Count == 0 ? operation with { Kind = Op.Apply, Text = Acceptable[earlier % Acceptable.Count], Earlier = null }
                : operation with { Text = resolved[earlier % resolved.Count].Text, Earlier = earlier % resolved.Count });
        }
        return [.. resolved];
    }

    [Fact]
    public void Corpus_HasEditsTheStoreAccepts() =>
        Assert.True(Acceptable.Count >= 5, $"only {Acceptable.Count} corpus files validate on top of {DirectoryFile}");

    [Fact]
    public void RejectedEdit_NeverChangesTheRunningConfig_AndARestartServesTheLastAccepted()
    {
        Sequence.Sample(
            operations => { RunSequence(operations); },
            iter: Sequences,
            print: operations => string.Join("\n\n", operations.Select((o, i) => $"#{i + 1} {o}")));
    }

    // Edits the property found breaking the store, kept as plain sequences so each stays covered
    // whatever the generator draws.

    [Fact]
    public void Delete_OfANameThatClimbsOutOfApplied_IsRefused_AndTheConfigDirKeepsItsFile() =>
        Assert.Equal([false], RunSequence([new Operation(Op.Delete, "edit.yaml", VirtualService("default", "x/../../../config/bookshop"))]));

    [Fact]
    public void Apply_OfNamespacesThatWouldJoinIntoOneFileName_IsRefused() =>
        Assert.Equal([false], RunSequence([new Operation(Op.Apply, "edit.yaml", VirtualService("a.b", "c") + "---\n" + VirtualService("a", "b.c"))]));

    [Fact]
    public void Apply_UnderTheNameOfAConfigDirFile_IsALayerAboveIt() =>
        Assert.Equal([true], RunSequence([new Operation(Op.Apply, DirectoryFile, IstioYamlCorpus.Bookshop.Replace("exact: jason", "exact: alice", StringComparison.Ordinal))]));

    [Fact]
    public void Apply_OfADocumentOnItsSeparatorLine_StoresIt() =>
        Assert.Equal([true], RunSequence([new Operation(Op.Apply, "edit.yaml", VirtualService("default", "first")
            + "--- {apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: inline}, spec: {hosts: [inline]}}\n---\n"
            + VirtualService("default", "last") + "--- {apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: end}, spec: {hosts: [end]}}")]));

    [Fact]
    public void Apply_OfTwoDocumentsWithoutASeparatorLine_IsRefused_SoAReapplyOfOneCannotDuplicateIt() =>
        Assert.Equal([false, true], RunSequence([
            new Operation(Op.Apply, "edit.yaml", VirtualService("default", "first") + "... # end\n" + VirtualService("default", "second")),
            new Operation(Op.Apply, "other.yaml", VirtualService("default", "second")),
        ]));

    /// <summary>Runs the operations on a fresh store, checking the property after each; returns which were accepted.</summary>
    private static List<bool> RunSequence(Operation[] operations)
    {
        var accepted = new List<bool>();
        using var dirs = new TempDirs();
        File.WriteAllText(Path.Combine(dirs.Config, DirectoryFile), IstioYamlCorpus.Bookshop);
        var (store, publisher) = StartStore(dirs);
        Assert.Equal(1, store.Version);

        foreach (var operation in operations)
        {
            var before = State.Of(store, publisher, dirs);
            var result = operation.Kind switch
            {
                Op.Apply => store.Apply(operation.FileName, operation.Text).Result,
                Op.Delete => store.Delete(operation.FileName, operation.Text).Result,
                _ => store.Validate(operation.FileName, operation.Text),
            };
            var after = State.Of(store, publisher, dirs);
            accepted.Add(result.Succeeded);

            // The store never writes to the config dir: that is the operator's, edited by hand or by git.
            Assert.Equal(before.ConfigDir, after.ConfigDir);
            if (!result.Succeeded || operation.Kind == Op.Validate)
            {
                Assert.Equal(before.Version, after.Version);
                Assert.Equal(before.ConfigJson, after.ConfigJson);
                Assert.Equal(before.DataDir, after.DataDir);
            }
            if (!result.Succeeded)
            {
                Assert.NotEmpty(result.Errors);
                AssertPlaced(result.Problems, operation, dirs);
                continue;
            }
            if (operation.Kind == Op.Validate)
            {
                continue;
            }
            // Accepted: a new version exactly when the served config changed (re-applying what is there is no change).
            Assert.Equal(before.ConfigJson == after.ConfigJson ? before.Version : before.Version + 1, after.Version);
            // What was validated is what is served: the edit's resources are all there, none lost on the way to disk.
            Assert.Equal(Shape(result.Config!), Shape(publisher.Config));
            // And what the history keeps of the version is what is served: a rollback to it serves the same.
            var kept = store.History.Latest()!;
            Assert.Equal(after.Version, kept.Info.Version);
            var reloaded = ConfigLoader.LoadLayers(kept.Resources.Select(r => new ConfigFile(r.Source, r.Yaml)));
            Assert.True(reloaded.Succeeded, string.Join('\n', reloaded.Errors));
            Assert.Equal(Shape(publisher.Config), Shape(reloaded.Config!));
        }

        // A restart (or a crash: nothing is held back in memory) on the same directories serves the last accepted config.
        var last = State.Of(store, publisher, dirs);
        var (restarted, republished) = StartStore(dirs);
        var afterRestart = State.Of(restarted, republished, dirs);
        Assert.Equal(last.Version, afterRestart.Version);
        Assert.Equal(last.ConfigJson, afterRestart.ConfigJson);
        Assert.Equal(last.DataDir, afterRestart.DataDir);
        return accepted;
    }

    private static (ConfigStore Store, SnapshotPublisher Publisher) StartStore(TempDirs dirs)
    {
        var publisher = new SnapshotPublisher(TimeProvider.System);
        var registry = new ServiceRegistry(new RegistryOptions(), TimeProvider.System);
        var options = new ControlPlaneOptions { ConfigDir = dirs.Config, DataDir = dirs.Data };
        var store = new ConfigStore(options, new FileConfigSource(options), publisher, registry,
            new FileConfigHistory(dirs.Data, 100, NullLogger.Instance), TimeProvider.System, NullLogger<ConfigStore>.Instance);
        store.Start();
        return (store, publisher);
    }

    /// <summary>Every problem of a refusal names a file, and a line and column in it: the posted file or one of the store's own.</summary>
    private static void AssertPlaced(IReadOnlyList<ConfigError> problems, Operation operation, TempDirs dirs)
    {
        foreach (var problem in problems)
        {
            // A file posted under a config dir file's name shares its name in messages; either is a place.
            var texts = new[] { Path.Combine(dirs.Data, problem.File), Path.Combine(dirs.Config, problem.File) }
                .Where(File.Exists).Select(File.ReadAllText)
                .Prepend(problem.File == operation.FileName ? operation.Text : null).OfType<string>().ToArray();
            Assert.True(texts.Length > 0, $"names no file the store knows: {problem}");
            if (!texts.Skip(1).Any(text => Record.Exception(() => ProblemPlacement.AssertPlaced([problem], problem.File, text)) is null))
            {
                ProblemPlacement.AssertPlaced([problem], problem.File, texts[0]);
            }
        }
    }

    /// <summary>The config as sidecars see it, without where each resource was read from (the posted file, or its copy under applied/).</summary>
    private static string Shape(ConfigSet config) => JsonSerializer.Serialize(new ConfigSet
    {
        VirtualServices = Unsourced(config.VirtualServices),
        DestinationRules = Unsourced(config.DestinationRules),
        ServiceEntries = Unsourced(config.ServiceEntries),
        PeerAuthentications = Unsourced(config.PeerAuthentications),
        AuthorizationPolicies = Unsourced(config.AuthorizationPolicies),
    }, MeshJson.Options);

    private static Resource<T>[] Unsourced<T>(IReadOnlyList<Resource<T>> resources) where T : class =>
        resources.Select(r => r with { Source = "" }).OrderBy(r => r.Metadata.Namespace, StringComparer.Ordinal).ThenBy(r => r.Metadata.Name, StringComparer.Ordinal).ToArray();

    private static string VirtualService(string ns, string name) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: {name}
          namespace: {ns}
        spec:
          hosts: [extra-{ns.Length}-{name.Length}]
          http:
          - route:
            - destination:
                host: extra-{ns.Length}-{name.Length}

        """;

    /// <summary>What an edit could change: the version, the served config and every file the store keeps.</summary>
    private sealed record State(long Version, string ConfigJson, string DataDir, string ConfigDir)
    {
        public static State Of(ConfigStore store, SnapshotPublisher publisher, TempDirs dirs) =>
            new(store.Version, JsonSerializer.Serialize(publisher.Current.Snapshot.Config, MeshJson.Options), Files(dirs.Data), Files(dirs.Config));

        // Byte-for-byte, as one string so that a difference shows which file changed.
        private static string Files(string root) => string.Join("\n", Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(root, f)} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))}"));
    }

    private sealed class TempDirs : IDisposable
    {
        private readonly string _root = Directory.CreateTempSubdirectory("mesh-store-").FullName;

        public TempDirs()
        {
            Directory.CreateDirectory(Config);
            Directory.CreateDirectory(Data);
        }

        public string Config => Path.Combine(_root, "config");

        public string Data => Path.Combine(_root, "data");

        public void Dispose() => Directory.Delete(_root, recursive: true);
    }
}
