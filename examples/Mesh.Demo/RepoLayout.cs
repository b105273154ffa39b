namespace Mesh.Demo;

/// <summary>Where the built programs the demo starts are: the same build configuration as the demo itself.</summary>
internal static class RepoLayout
{
    public static string Root { get; } = FindRoot();

    private static string Configuration => AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string Dll(string folder, string project, string? assembly = null) =>
        Path.Combine(Root, folder, project, "bin", Configuration, "net10.0", (assembly ?? project) + ".dll");

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
