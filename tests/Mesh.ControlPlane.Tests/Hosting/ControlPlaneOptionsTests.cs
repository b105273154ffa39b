using Mesh.ControlPlane.Hosting;
using Mesh.Core.Hosting;

namespace Mesh.ControlPlane.Tests.Hosting;

public sealed class ControlPlaneOptionsTests
{
    [Fact]
    public void Parse_Defaults_DetectDeadInstanceWithinTenSeconds()
    {
        var options = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x"]);

        Assert.Equal((15012, 15014), (options.Port, options.AdminPort));
        Assert.True(options.Registry.LeaseTtl + TimeSpan.FromMilliseconds(250) < TimeSpan.FromSeconds(10));
        Assert.True(options.Registry.HeartbeatInterval * 3 <= options.Registry.LeaseTtl, "a lease survives two lost heartbeats");
    }

    [Fact]
    public void Parse_HeartbeatNotShorterThanTtl_IsRejected()
    {
        var e = Assert.Throws<UsageException>(() => ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--lease-ttl", "2s", "--heartbeat-interval", "2s"]));

        Assert.StartsWith("--heartbeat-interval must be shorter than --lease-ttl", e.Message, StringComparison.Ordinal);
    }
}
