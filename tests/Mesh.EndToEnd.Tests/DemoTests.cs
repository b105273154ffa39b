using System.Globalization;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>The README's demo command: it comes up, serves the bookshop through three hops, and stops everything it started.</summary>
[Collection(DemoCollection.Name)]
public sealed class DemoTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Demo_Smoke_ServesTheShopEndToEndAndStops()
    {
        var dataDir = Directory.CreateTempSubdirectory("mesh-demo-test-").FullName;
        await using var demo = MeshProcess.StartDll("demo", RepoPaths.DemoDll, ["--smoke", "--free-ports", "--data-dir", dataDir]);
        var exitCode = await demo.WaitForExitAsync(Bound);

        Assert.True(exitCode == 0, $"demo --smoke exited {exitCode}\n{demo.Output}");
        Assert.True(demo.HasLogged("welcome jason"), demo.Output);
        Assert.True(demo.HasLogged("smoke test passed"), demo.Output);
        Assert.True(demo.HasLogged("stopped 14 processes"), demo.Output);
        Assert.Empty(ProcessesUsing(dataDir));
    }

    [Fact]
    public async Task Demo_Sigterm_StopsEveryProcessItStarted()
    {
        var dataDir = Directory.CreateTempSubdirectory("mesh-demo-test-").FullName;
        await using var demo = MeshProcess.StartDll("demo", RepoPaths.DemoDll, ["--free-ports", "--data-dir", dataDir]);
        await Eventually.TrueAsync(() => Task.FromResult(demo.HasLogged("Ctrl-C stops everything")), Bound, () => "demo did not come up\n" + demo.Output);
        var running = ProcessesUsing(dataDir).Length;
        Assert.True(running == 14, $"{running} of the demo's 14 processes running\n{demo.Output}");

        demo.Terminate();
        var exitCode = await demo.WaitForExitAsync(TimeSpan.FromSeconds(90));

        Assert.True(exitCode == 0, $"exit code {exitCode}\n{demo.Output}");
        Assert.True(demo.HasLogged("stopped 14 processes"), demo.Output);
        Assert.True(ProcessesUsing(dataDir).Length == 0, $"left running: {string.Join(", ", ProcessesUsing(dataDir))}\n{demo.Output}");
    }

    /// <summary>Processes the demo started: each carries MESH_DEMO_RUN=&lt;data dir&gt;/logs in its environment.</summary>
    private static int[] ProcessesUsing(string dataDir) =>
        Directory.EnumerateDirectories("/proc")
            .Where(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .Select(d => (Pid: int.Parse(Path.GetFileName(d), CultureInfo.InvariantCulture), Environment: ReadEnvironment(d)))
            .Where(p => p.Environment.Contains("MESH_DEMO_RUN=" + Path.Combine(dataDir, "logs"), StringComparer.Ordinal))
            .Select(p => p.Pid)
            .ToArray();

    private static string[] ReadEnvironment(string procDir)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDir, "environ")).Split('\0');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // gone meanwhile, or not ours to read
        }
    }
}
