using Mesh.Core.Config.Loading;

namespace Mesh.Core.Tests.Config;

/// <summary>Regression tests for inputs the loader fuzzer (<see cref="ConfigLoaderFuzzTests"/>) turned up or was built to try.</summary>
public sealed class ConfigLoaderHostileInputTests
{
    private const string Header = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n";

    private static ConfigError SingleError(string yaml)
    {
        var result = ConfigLoader.Load([("r.yaml", yaml)]);
        Assert.False(result.Succeeded);
        return Assert.Single(result.Errors);
    }

    [Theory]
    [InlineData("metadata: &m {name: reviews}\n*m : x\n", 4)]
    [InlineData("metadata: {name: reviews}\nspec: &s {hosts: [reviews]}\nextra: {*s : 1}\n", 5)]
    [InlineData("metadata: {name: reviews, x: &k key}\nspec: {*k : 1}\n", 4)]
    [InlineData("metadata: {name: reviews, x: &k key}\nspec: {*k : 1, *k : 2}\n", 4)]
    public void Load_AliasAsAMapKey_IsRefusedBeforeTheParserRecursesOnIt(string body, int line)
    {
        // Found by ConfigLoaderFuzzTests in a fresh-clone CI run: YamlDotNet's alias resolution recursed
        // until the stack overflowed, which ends the process (the control plane, on an apply).
        var error = SingleError("apiVersion: networking.istio.io/v1\nkind: VirtualService\n" + body);
        Assert.Contains("used as a map key", error.Message, StringComparison.Ordinal);
        Assert.Equal(line, error.Line);
    }

    [Fact]
    public void Load_UnpairedSurrogate_IsRefusedWhereItIs()
    {
        // Found by ConfigStorePropertyTests: accepted, the value was saved as UTF-8, came back as U+FFFD and
        // a restart served another config than the one validated. A file read as UTF-16 can hold one; YAML's
        // own "\uD800" escape is already a syntax error in YamlDotNet.
        foreach (var value in new[] { "\uD800/b", "/b\uDC00", "/a\uDC00\uD800" })
        {
            var error = SingleError($"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: reviews}}\nspec:\n  hosts: [reviews]\n  http:\n  - match:\n    - uri: {{prefix: {value}}}\n    route:\n    - destination: {{host: reviews}}\n");
            Assert.Contains("unpaired surrogate U+D", error.Message, StringComparison.Ordinal);
            Assert.Equal(8, error.Line);
        }
        Assert.Contains("YAML syntax error", SingleError("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: \"r\\uD800\"}\n").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_APairedSurrogate_IsAccepted()
    {
        var result = ConfigLoader.Load([("r.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - match:\n    - uri: {prefix: \"/\\U0001F600\"}\n    route:\n    - destination: {host: reviews}\n")]);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
    }

    [Fact]
    public void Load_BillionLaughs_IsRefusedAtTheAliasThatCrossesTheLimit()
    {
        var error = SingleError(YamlMutations.AliasBomb(levels: 9, width: 10, inSpec: true));

        Assert.Contains("aliases expand this document to more than 100000 nodes", error.Message, StringComparison.Ordinal);
        Assert.Equal(12, error.Line); // "- &l5 [*l4, ...]": 10^5 nodes
    }

    [Fact]
    public void Load_AliasInsideItsOwnAnchor_IsRefusedNotRecursedInto()
    {
        var error = SingleError(Header + "  subsets: &s\n  - name: v1\n    labels: *s\n");

        Assert.Equal((8, 13), (error.Line, error.Column));
        Assert.Contains("inside its own anchor", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SmallAliasReuse_IsAccepted()
    {
        var result = ConfigLoader.Load([("r.yaml", Header + "  subsets:\n  - name: v1\n    labels: &v1 {version: v1}\n  - name: v1-again\n    labels: *v1\n")]);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.Equal("v1", result.Config!.DestinationRules[0].Spec.Subsets[1].Labels["version"]);
    }

    [Theory]
    [InlineData("[", 1, 65)]
    [InlineData("{a: ", 1, 257)]
    public void Load_NestingThousandsDeep_IsRefusedWithoutOverflowingTheStack(string open, int line, int column)
    {
        var close = open == "[" ? "]" : "}";
        var error = SingleError(string.Concat(Enumerable.Repeat(open, 50_000)) + "x" + string.Concat(Enumerable.Repeat(close, 50_000)));

        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Contains("nested more than 64 levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_DuplicateKey_NamesTheSecondKeyAndTheFirst()
    {
        var error = SingleError(Header + "  host: ratings\n");

        Assert.Equal((6, 3), (error.Line, error.Column));
        Assert.Contains("key 'host' appears twice in this map (first at line 5)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{[a]: v1}", 14)]
    [InlineData("{? {a: b}: v1}", 16)]
    public void Load_MapKeyThatIsNotAString_IsAnErrorAtTheKey(string labels, int column)
    {
        var error = SingleError(Header + $"  subsets:\n  - name: v1\n    labels: {labels}\n");

        Assert.Equal((8, column), (error.Line, error.Column));
        Assert.Contains("a map key must be a string", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(".nan")]
    [InlineData("NaN")]
    [InlineData(".inf")]
    [InlineData("1e309")]
    [InlineData("-Infinity")]
    public void Load_PercentageThatIsNotAFiniteNumber_IsAnError(string value)
    {
        var error = SingleError($$$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
              - route: [{destination: {host: reviews}}]
                mirror: {host: reviews}
                mirrorPercentage: {value: {{{value}}}}
            """);

        Assert.Equal((9, 31), (error.Line, error.Column));
        Assert.Contains("spec.http[0].mirrorPercentage.value", error.Path, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("99999999999999999999h")]
    [InlineData("1e400s")]
    [InlineData("9999999999999999999999999999999999999ms")]
    public void Load_DurationTooLargeForATimeSpan_IsAnErrorNotAnOverflow(string value)
    {
        var error = SingleError(Header + $"  trafficPolicy:\n    connectionPool:\n      tcp: {{connectTimeout: {value}}}\n");

        Assert.Equal("spec.trafficPolicy.connectionPool.tcp.connectTimeout", error.Path);
        Assert.Equal(8, error.Line);
    }

    [Fact]
    public void SplitDocuments_LoneCarriageReturns_CountAsLineBreaksInPositions()
    {
        var (_, problems) = ConfigLoader.SplitDocuments("r.yaml", "kind: VirtualService\rmetadata: {name: a}\r---\rkind: [\r");

        var error = Assert.Single(problems);
        Assert.Equal(5, error.Line);
    }
}
