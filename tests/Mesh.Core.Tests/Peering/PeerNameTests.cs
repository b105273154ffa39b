using Mesh.Core.Peering;

namespace Mesh.Core.Tests.Peering;

public sealed class PeerNameTests
{
    [Theory]
    [InlineData("eu", true)]
    [InlineData("us-east-1", true)]
    [InlineData("a", true)]
    [InlineData("", false)]
    [InlineData("-eu", false)]
    [InlineData("eu-", false)]
    [InlineData("EU", false)]
    [InlineData("eu.west", false)]
    [InlineData("eu/west", false)]
    public void IsValid_DnsLabelsOnly(string name, bool valid)
    {
        Assert.Equal(valid, PeerName.IsValid(name));
        Assert.Equal(valid, PeerName.Problem(name) is null);
    }

    [Fact]
    public void IsValid_SixtyFourCharacters_IsRefused() =>
        Assert.False(PeerName.IsValid(new string('a', 64)));
}
