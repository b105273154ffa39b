using System.Text.Json;

namespace Mesh.Sidecar.Tests.Hosting;

/// <summary>
/// The runtime settings the sidecar is built with (the web SDK's defaults plus Mesh.Sidecar.csproj), read from the
/// runtimeconfig.json the build writes next to the sidecar: what `dotnet Mesh.Sidecar.dll` and the end-to-end
/// tests' sidecars run with. A project change that turns server GC or DATAS off fails here.
/// </summary>
public sealed class RuntimeSettingsTests
{
    private static readonly JsonElement ConfigProperties = Load();

    [Fact]
    public void ServerGc_WithDynamicAdaptation()
    {
        // The memory figures in docs/performance.md are for server GC with DATAS; workstation GC and DATAS off both measured worse.
        Assert.True(ConfigProperties.GetProperty("System.GC.Server").GetBoolean());
        Assert.Equal(1, ConfigProperties.GetProperty("System.GC.DynamicAdaptationMode").GetInt32());
    }

    private static JsonElement Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Mesh.Sidecar.runtimeconfig.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }
}
