using System.Text;

namespace Mesh.Discovery.Tests;

public sealed class MeshInstanceTests
{
    private const string Health = """
        [
          {"Node":{"Node":"agent-1","Address":"10.0.0.9"},
           "Service":{"ID":"web-1","Service":"web","Tags":["v1"],"Address":"10.0.0.1","Port":8080,"Meta":{"version":"v1"},"Locality":{"Region":"eu","Zone":"eu-1a"}},"Checks":[]},
          {"Node":{"Node":"agent-2","Address":"10.0.0.2"},
           "Service":{"ID":"web-2","Service":"web","Tags":[],"Address":"","Port":8081,"Meta":{"version":"v2"}},"Checks":[]},
          {"Node":{"Node":"agent-3","Address":"10.0.0.3"},
           "Service":{"ID":"web-3","Service":"web","Port":8082,"Meta":{"version":"v1"},"Locality":{"Region":"eu","Zone":"eu-1b"}},"Checks":[]}
        ]
        """;

    [Fact]
    public void ParsesConsulHealthAnswers_TheNodesAddressStandsInForAnEmptyOne()
    {
        var instances = MeshInstance.ParseHealth(Encoding.UTF8.GetBytes(Health));
        Assert.Equal(["web-1 10.0.0.1:8080 eu-1a", "web-2 10.0.0.2:8081 ", "web-3 10.0.0.3:8082 eu-1b"],
            instances.Select(i => $"{i.Id} {i.Address}:{i.Port} {i.Zone}"));
        Assert.Equal(["v1"], instances[0].Tags);
        Assert.Equal("v2", instances[1].Labels["version"]);
    }

    [Fact]
    public void Selects_ByLabels_ThenPrefersTheZone_WhenAnyInstanceIsThere()
    {
        var instances = MeshInstance.ParseHealth(Encoding.UTF8.GetBytes(Health));
        var v1 = new MeshDiscoveryOptions();
        v1.Labels["version"] = "v1";
        Assert.Equal(["web-1", "web-3"], MeshInstance.Select(instances, v1).Select(i => i.Id));
        v1.PreferZone = "eu-1b";
        Assert.Equal(["web-3"], MeshInstance.Select(instances, v1).Select(i => i.Id));
        v1.PreferZone = "us-1a"; // nobody there: all that match
        Assert.Equal(["web-1", "web-3"], MeshInstance.Select(instances, v1).Select(i => i.Id));
    }

    [Fact]
    public void NotAHealthAnswer_IsAFormatError()
    {
        Assert.Throws<FormatException>(() => MeshInstance.ParseHealth("{\"error\":1}"u8));
    }

    [Fact]
    public void ServiceNames_MayNameTheirNamespace()
    {
        Assert.Equal(("reviews", "default"), MeshServiceEndpointProvider.Name("reviews", "default"));
        Assert.Equal(("reviews", "shop"), MeshServiceEndpointProvider.Name("reviews.shop", "default"));
    }
}
