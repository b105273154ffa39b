namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>Where the built control plane, sidecar and test app are: the same configuration as this test build.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Configuration { get; } = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string ControlPlaneDll => Dll("src", "Mesh.ControlPlane");
    public static string SidecarDll => Dll("src", "Mesh.Sidecar");
    public static string TestAppDll => Dll("tests", "Mesh.TestApp");
    public static string DemoDll => Dll("examples", "Mesh.Demo");
    public static string DiscoveryExampleDll => Dll("examples", "Mesh.Discovery.Example");
    public static string MeshctlDll => Path.Combine(Root, "src", "Mesh.Cli", "bin", Configuration, "net10.0", "meshctl.dll");

    private static string Dll(string folder, string project) =>
        Path.Combine(Root, folder, project, "bin", Configuration, "net10.0", project + ".dll");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Mesh.sln not found above " + AppContext.BaseDirectory);
    }
}
