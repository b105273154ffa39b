using Mesh.Core.Hosting;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Tests.Hosting;

public sealed class SidecarOptionsTests
{
    private static readonly string[] Required = ["--service", "reviews", "--app-port", "9080", "--control-plane", "https://127.0.0.1:15012", "--data-dir", "/tmp/x"];

    [Fact]
    public void Parse_RequiredOnly_UsesIstioPortDefaults()
    {
        var options = SidecarOptions.Parse(Required);

        Assert.Equal((15001, 15006, 15000), (options.OutboundPort, options.InboundPort, options.AdminPort));
        Assert.Equal("default", options.Namespace);
        Assert.StartsWith("reviews-", options.InstanceId, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SamePortTwice_NamesBothFlags()
    {
        var e = Assert.Throws<UsageException>(() => SidecarOptions.Parse([.. Required, "--admin-port", "15001"]));

        Assert.Equal("--outbound-port and --admin-port are both 15001; each needs its own port", e.Message);
    }

    [Theory]
    [InlineData("--service", "Reviews.v1", "--service expects a DNS label (letters, digits, '-'), got 'Reviews.v1'")]
    [InlineData("--app-health", "health", "--app-health expects a path starting with '/', got 'health'")]
    [InlineData("--control-plane", "ftp://x", "--control-plane expects a URL like https://127.0.0.1:15012, got 'ftp://x'")]
    public void Parse_BadValue_OneLineSayingWhatIsExpected(string flag, string value, string message)
    {
        var args = Required.ToList();
        var i = args.IndexOf(flag);
        if (i >= 0)
        {
            args[i + 1] = value;
        }
        else
        {
            args.AddRange([flag, value]);
        }

        var e = Assert.Throws<UsageException>(() => SidecarOptions.Parse(args));
        Assert.Equal(message, e.Message);
    }
}
