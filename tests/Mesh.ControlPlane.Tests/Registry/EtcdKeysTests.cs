using System.Text;
using Mesh.ControlPlane.Registry.Etcd;

namespace Mesh.ControlPlane.Tests.Registry;

public sealed class EtcdKeysTests
{
    [Fact]
    public void Instance_KeyUnderTheRegistryPrefix_RoundTripsItsId()
    {
        var key = EtcdKeys.Instance("web@ratings-1");

        Assert.Equal("/mesh/registry/instances/web@ratings-1", key);
        Assert.Equal("web@ratings-1", EtcdKeys.InstanceId(key));
    }

    [Fact]
    public void LiveKey_BesideTheInstanceKey_RoundTripsItsId_AndIsNoInstanceKey()
    {
        var key = EtcdKeys.LiveKey("web@ratings-1");

        Assert.Equal("/mesh/registry/live/web@ratings-1", key);
        Assert.Equal("web@ratings-1", EtcdKeys.LiveId(key));
        Assert.Null(EtcdKeys.InstanceId(key));
        Assert.Null(EtcdKeys.LiveId(EtcdKeys.Instance("web@ratings-1")));
    }

    [Theory]
    [InlineData("/mesh/registry/instances/")]
    [InlineData("/mesh/config/x")]
    [InlineData("/mesh/registry/instance")]
    public void InstanceId_KeyOutsideTheInstances_IsNull(string key) =>
        Assert.Null(EtcdKeys.InstanceId(key));

    [Fact]
    public void RangeEnd_Prefix_IsThePrefixWithItsLastByteIncremented()
    {
        Assert.Equal("/mesh/registry/instances0", Encoding.UTF8.GetString(EtcdKeys.RangeEnd(EtcdKeys.Instances)));
        Assert.Equal("ac", Encoding.UTF8.GetString(EtcdKeys.RangeEnd("ab")));
    }

    [Theory]
    [InlineData(3000, 3)]
    [InlineData(8000, 8)]
    [InlineData(2500, 3)]
    [InlineData(500, 2)]
    public void LeaseSeconds_Ttl_IsRoundedUpToWholeSecondsAndAtLeastTwo(int ms, long seconds) =>
        Assert.Equal(seconds, EtcdKeys.LeaseSeconds(TimeSpan.FromMilliseconds(ms)));
}
