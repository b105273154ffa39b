using System.CommandLine;
using Mesh.Core.Hosting;

namespace Mesh.Core.Tests.Hosting;

public sealed class FlagsTests
{
    private static readonly Option<int> Port = Flags.Port("port", "p", 15012);
    private static readonly Option<IReadOnlyDictionary<string, string>> Label = Flags.KeyValues("label", "key=value", "l");
    private static readonly Option<TimeSpan> Ttl = Flags.Duration("ttl", "t", TimeSpan.FromSeconds(8));
    private static readonly Option<TimeSpan> Grace = Flags.Duration("grace", "g", TimeSpan.FromSeconds(1), zeroAllowed: true);
    private static readonly Option<bool> Verbose = Flags.Switch("verbose", "v");
    private static readonly RootCommand Root = new("test") { Port, Label, Ttl, Grace, Verbose };

    [Fact]
    public void Parse_SpaceAndEqualsForms_ReadValues_AndAbsentFlagsTheirDefaults()
    {
        var p = Flags.Parse(Root, ["--port", "15001", "--ttl=2s", "--label", "version=v1", "--label", "zone=a", "--verbose"]);

        Assert.Equal(15001, p.GetValue(Port));
        Assert.Equal(TimeSpan.FromSeconds(2), p.GetValue(Ttl));
        Assert.Equal(new Dictionary<string, string> { ["version"] = "v1", ["zone"] = "a" }, p.GetValue(Label));
        Assert.True(p.GetValue(Verbose));
        Assert.Equal(TimeSpan.FromSeconds(1), p.GetValue(Grace));
        Assert.True(p.Given(Port));
        Assert.False(p.Given(Grace));
    }

    [Theory]
    [InlineData(new[] { "--prot", "1" }, "unknown flag --prot; did you mean --port? (see --help)")]
    [InlineData(new[] { "--completely-else", "1" }, "unknown flag --completely-else (see --help)")]
    [InlineData(new[] { "--port" }, "--port expects port")]
    [InlineData(new[] { "--port", "1", "--port", "2" }, "--port is given twice")]
    [InlineData(new[] { "stray" }, "unexpected argument 'stray'; flags look like --name value (see --help)")]
    [InlineData(new[] { "--port", "http" }, "--port expects a port number 1-65535, got 'http'")]
    [InlineData(new[] { "--port", "70000" }, "--port expects a port number 1-65535, got '70000'")]
    [InlineData(new[] { "--ttl", "2 secs" }, "--ttl expects a positive duration like 500ms, 10s or 1m, got '2 secs'")]
    [InlineData(new[] { "--ttl", "0s" }, "--ttl expects a positive duration like 500ms, 10s or 1m, got '0s'")]
    [InlineData(new[] { "--label", "novalue" }, "--label expects key=value, got 'novalue'")]
    public void Parse_Mistakes_OneLineNamingTheFlag(string[] args, string message)
    {
        var e = Assert.Throws<UsageException>(() => Flags.Parse(Root, args));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Parse_ZeroDuration_WhereZeroTurnsSomethingOff()
    {
        Assert.Equal(TimeSpan.Zero, Flags.Parse(Root, ["--grace", "0s"]).GetValue(Grace));
    }

    [Fact]
    public void Help_ListsEveryFlagWithItsValueAndDefault()
    {
        var help = Flags.Help(Root);

        Assert.Matches(@"--port <port>\s+p \[default: 15012\]", help);
        Assert.Matches(@"--ttl <duration>\s+t \[default: 8s\]", help);
        Assert.Contains("--verbose", help, StringComparison.Ordinal);
    }
}
