using Mesh.Core.Hosting;

namespace Mesh.Core.Tests.Hosting;

public sealed class CommandLineTests
{
    private static readonly FlagSpec[] Flags =
    [
        new("port", "port", "p"),
        new("label", "key=value", "l", Repeatable: true),
        new("ttl", "duration", "t"),
        new("verbose", null, "v"),
    ];

    [Fact]
    public void Parse_SpaceAndEqualsForms_ReadValues()
    {
        var cl = CommandLine.Parse(["--port", "15001", "--ttl=2s", "--label", "version=v1", "--label", "zone=a", "--verbose"], Flags);

        Assert.Equal(15001, cl.Port("port", 1));
        Assert.Equal(TimeSpan.FromSeconds(2), cl.Duration("ttl", TimeSpan.Zero));
        Assert.Equal(new Dictionary<string, string> { ["version"] = "v1", ["zone"] = "a" }, cl.KeyValues("label"));
        Assert.True(cl.Has("verbose"));
    }

    [Theory]
    [InlineData(new[] { "--prot", "1" }, "unknown flag --prot (see --help)")]
    [InlineData(new[] { "--port" }, "--port expects port")]
    [InlineData(new[] { "--port", "1", "--port", "2" }, "--port is given twice")]
    [InlineData(new[] { "stray" }, "unexpected argument 'stray'; flags look like --name value (see --help)")]
    public void Parse_BadArguments_OneLineNamingTheFlag(string[] args, string message)
    {
        var e = Assert.Throws<UsageException>(() => CommandLine.Parse(args, Flags));
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("port", "http", "--port expects a port number 0-65535, got 'http'")]
    [InlineData("port", "70000", "--port expects a port number 0-65535, got '70000'")]
    [InlineData("ttl", "2 secs", "--ttl expects a positive duration like 500ms, 10s or 1m, got '2 secs'")]
    [InlineData("label", "novalue", "--label expects key=value, got 'novalue'")]
    public void TypedGetters_BadValue_SayWhatIsExpected(string flag, string value, string message)
    {
        var cl = CommandLine.Parse([$"--{flag}", value], Flags);

        var e = Assert.Throws<UsageException>(() => flag switch
        {
            "port" => cl.Port(flag, 1),
            "ttl" => (object)cl.Duration(flag, TimeSpan.Zero),
            _ => cl.KeyValues(flag),
        });
        Assert.Equal(message, e.Message);
    }
}
