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
    public void Parse_SeveralControlPlanes_KeptInOrder()
    {
        var args = Required.ToList();
        args[args.IndexOf("--control-plane") + 1] = "https://127.0.0.1:15012,https://cp-2.mesh:15012";

        var options = SidecarOptions.Parse(args);

        Assert.Equal([new Uri("https://127.0.0.1:15012"), new Uri("https://cp-2.mesh:15012")], options.ControlPlanes);
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
    [InlineData("--control-plane", "ftp://x", "--control-plane expects URLs like https://127.0.0.1:15012 (several comma-separated), got 'ftp://x'")]
    [InlineData("--control-plane", "https://a:1,http://b:1", "--control-plane mixes https and http in 'https://a:1,http://b:1'; give every server the same scheme")]
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

    private static readonly string[] Gateway = ["--gateway", "edge", "--control-plane", "https://127.0.0.1:15012", "--data-dir", "/tmp/x"];

    [Fact]
    public void Parse_Gateway_IsItsOwnServiceAndMapsPorts()
    {
        var options = SidecarOptions.Parse([.. Gateway, "--gateway-port", "443=8443", "--gateway-port-offset", "10000", "--credentials-dir", "/etc/mesh/credentials"]);

        Assert.Equal(("edge", "edge", 0), (options.Gateway, options.Service, options.AppPort));
        Assert.Equal((8443, 10080), (options.GatewayListenPort(443), options.GatewayListenPort(80)));
        Assert.Equal(("0.0.0.0", "/etc/mesh/credentials"), (options.GatewayListen, options.CredentialsDir));
    }

    [Theory]
    [InlineData(new[] { "--app-port", "9080" }, "--gateway and --app-port do not go together: a gateway has no app of its own")]
    [InlineData(new[] { "--gateway-port", "443" }, "--gateway-port expects number=port, got '443'")]
    [InlineData(new[] { "--gateway-port", "443=0" }, "--gateway-port expects number=port with both 1-65535, e.g. 443=8443, got '443=0'")]
    [InlineData(new[] { "--gateway-listen", "everywhere" }, "--gateway-listen expects an IP address, got 'everywhere'")]
    public void Parse_BadGatewayFlag_OneLineSayingWhatIsExpected(string[] extra, string message)
    {
        var e = Assert.Throws<UsageException>(() => SidecarOptions.Parse([.. Gateway, .. extra]));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Parse_GatewayFlagWithoutGateway_IsRefused()
    {
        var e = Assert.Throws<UsageException>(() => SidecarOptions.Parse([.. Required, "--credentials-dir", "/x"]));
        Assert.Contains("need --gateway", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--outbound-prot", "15001" }, "unknown flag --outbound-prot; did you mean --outbound-port? (see --help)")]
    [InlineData(new[] { "--admin-port", "1", "--admin-port", "2" }, "--admin-port is given twice")]
    [InlineData(new[] { "--drain-delay", "soon" }, "--drain-delay expects a positive duration like 500ms, 10s or 1m, got 'soon'")]
    [InlineData(new[] { "--consul-port", "70000" }, "--consul-port expects a port number 0-65535, got '70000'")]
    [InlineData(new[] { "--app-port", "0" }, "--app-port expects a port number 1-65535, got '0'")]
    [InlineData(new[] { "stray" }, "unexpected argument 'stray'; flags look like --name value (see --help)")]
    public void Parse_Mistakes_OneLineNamingTheFlag(string[] extra, string message)
    {
        // Required without its --app-port 9080, so each case may give its own.
        string[] args = [.. Required[..2], .. Required[4..]];
        var e = Assert.Throws<UsageException>(() => SidecarOptions.Parse([.. args, .. extra]));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Parse_RequiredFlagMissing_SaysWhich()
    {
        var e = Assert.Throws<UsageException>(() => SidecarOptions.Parse(["--service", "reviews", "--data-dir", "/tmp/x"]));
        Assert.Equal("--control-plane is required", e.Message);
    }

    [Fact]
    public void Parse_EqualsForm_AndNegativeNumbers_AreValues()
    {
        var options = SidecarOptions.Parse([.. Gateway, "--gateway-port-offset=-100", "--namespace=shop"]);
        Assert.Equal((-100, "shop"), (options.GatewayPortOffset, options.Namespace));
    }

    [Fact]
    public void Help_IsGenerated_WithEachFlagsDefaultFromTheOptionsItself()
    {
        var help = SidecarOptions.Help();

        Assert.Contains("--outbound-port <port>", help, StringComparison.Ordinal);
        Assert.Matches(@"--outbound-port <port>\s+port the app calls, on 127\.0\.0\.1 \[default: 15001\]", help);
        Assert.Matches(@"--drain-delay <duration>[^\n]*\[default: 2s\]", help);
        Assert.Matches(@"--label <key=value>[^\n]*\(repeatable\)", help);
    }
}
