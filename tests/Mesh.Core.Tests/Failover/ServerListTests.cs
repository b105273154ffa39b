using Mesh.Core.Failover;
using Mesh.Core.Hosting;

namespace Mesh.Core.Tests.Failover;

public sealed class ServerListTests
{
    [Fact]
    public void Parse_CommaSeparated_KeepsOrder()
    {
        var urls = ServerList.Parse("control-plane", "https://10.0.0.1:15012, https://cp.example:15012", "https", "http");
        Assert.Equal([new Uri("https://10.0.0.1:15012"), new Uri("https://cp.example:15012")], urls);
    }

    [Fact]
    public void Parse_SeveralBadParts_NamesEveryOne()
    {
        var e = Assert.Throws<UsageException>(() => ServerList.Parse("control-plane", "https://10.0.0.1:15012,ftp://x,,10.0.0.3:1", "https", "http"));
        Assert.Contains("--control-plane", e.Message, StringComparison.Ordinal);
        Assert.Contains("'ftp://x'", e.Message, StringComparison.Ordinal);
        Assert.Contains("''", e.Message, StringComparison.Ordinal);
        Assert.Contains("'10.0.0.3:1'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'https://10.0.0.1:15012'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://a:1,http://b:1", "mixes")]
    [InlineData("https://a:1,https://a:1", "more than once")]
    [InlineData("https://a:1/v1", "expects URLs like https://127.0.0.1:15012 (several comma-separated), got 'https://a:1/v1'")]
    public void Parse_Inconsistent_Refused(string text, string expected)
    {
        var e = Assert.Throws<UsageException>(() => ServerList.Parse("control-plane", text, "https", "http"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
