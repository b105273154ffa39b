using Mesh.ControlPlane.Peering;

namespace Mesh.ControlPlane.Tests.Peering;

public sealed class PeeringTokenTests
{
    private static readonly PeeringToken Token = new("east", [new Uri("https://10.0.0.1:15012"), new Uri("https://10.0.0.2:15012")], "west.example",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "west", "s3cr3t");

    [Fact]
    public void Decode_AnEncodedToken_GivesBackEveryField()
    {
        var text = Token.Encode();

        Assert.StartsWith(PeeringToken.Prefix, text, StringComparison.Ordinal);
        Assert.DoesNotContain(text, c => c is '+' or '/' or '=' or '\n');
        var decoded = PeeringToken.Decode("  " + text + "\n", out var problem);
        Assert.Null(problem);
        Assert.NotNull(decoded);
        Assert.Equal((Token.Peering, Token.TrustDomain, Token.RootPem, Token.Region, Token.Secret), (decoded.Peering, decoded.TrustDomain, decoded.RootPem, decoded.Region, decoded.Secret));
        Assert.Equal(Token.Addresses, decoded.Addresses);
    }

    [Theory]
    [InlineData("mesh-join.abc.def", "starts with 'mesh-peering.'")]
    [InlineData("mesh-peering.%%%", "does not decode")]
    [InlineData("mesh-peering.e30", "lacks its addresses")]
    public void Decode_NotAToken_SaysWhyWithoutEchoingIt(string text, string expected)
    {
        Assert.Null(PeeringToken.Decode(text, out var problem));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
        Assert.DoesNotContain(text, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_ACutToken_IsRefused()
    {
        var text = Token.Encode();
        Assert.Null(PeeringToken.Decode(text[..(text.Length / 2)], out var problem));
        Assert.NotNull(problem);
    }
}
