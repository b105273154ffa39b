using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Core.Config.Model;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Snapshots;

public sealed class MeshJsonTests
{
    /// <summary>
    /// The native sidecar cannot make an enum converter at run time: an enum of the model without one
    /// in the list would travel as a number there and as a name everywhere else.
    /// </summary>
    [Fact]
    public void EveryModelEnum_HasANameConverter()
    {
        var enums = typeof(MeshJson).Assembly.GetExportedTypes().Where(t => t.IsEnum).ToArray();
        Assert.NotEmpty(enums);
        foreach (var type in enums)
        {
            Assert.True(MeshJson.Options.Converters.Any(c => c.CanConvert(type)), $"{type.FullName} has no converter in MeshJson");
        }
        Assert.Equal("\"ISTIO_MUTUAL\"", JsonSerializer.Serialize(TlsMode.IstioMutual, MeshJson.Options.Info<TlsMode>()));
    }

    /// <summary>What travels to sidecars comes from generated metadata, not reflection.</summary>
    [Fact]
    public void SnapshotTypes_UseGeneratedMetadata()
    {
        foreach (var type in new[] { typeof(MeshSnapshot), typeof(SnapshotDelta), typeof(TrafficPolicy) })
        {
            Assert.NotNull(MeshJsonContext.Default.GetTypeInfo(type));
        }
        var snapshot = new MeshSnapshot { Version = 7, ConfigVersion = 3 };
        var json = JsonSerializer.SerializeToUtf8Bytes(snapshot, MeshJsonContext.Default.MeshSnapshot);
        var back = JsonSerializer.Deserialize(json, MeshJson.Options.Info<MeshSnapshot>())!;
        Assert.Equal((7L, 3L), (back.Version, back.ConfigVersion));
    }
}
