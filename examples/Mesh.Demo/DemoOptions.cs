using System.CommandLine;
using Mesh.Core.Hosting;

namespace Mesh.Demo;

/// <summary>The demo launcher's flags.</summary>
internal sealed record DemoOptions(bool Smoke, bool FreePorts, string ConfigDir, string? DataDir, double TraceSampling)
{
    private static readonly Option<string?> ConfigDirFlag = Flags.Text("config-dir", "dir", "routing YAML the control plane watches (default: the repository's config/)");
    private static readonly Option<string?> DataDirFlag = Flags.Text("data-dir", "dir", "where the control plane, sidecars and logs keep their files (default: a new temp dir)");
    private static readonly Option<bool> FreePortsFlag = Flags.Switch("free-ports", "take every port from 10000-19999 instead of the well-known ones (15001, 15012, ...)");
    private static readonly Option<bool> SmokeFlag = Flags.Switch("smoke", "start everything, check calls end to end, stop everything, exit 0 if all went well");
    private static readonly Option<double> TraceSamplingFlag = Flags.Ratio("trace-sampling", "share of new traces the sidecars sample, 0..1 (every call, for the demo)", 1.0);

    private static readonly RootCommand Command = new("Mesh.Demo: runs the mesh demo: control plane, bookshop services and their sidecars.")
    {
        ConfigDirFlag, DataDirFlag, FreePortsFlag, SmokeFlag, TraceSamplingFlag,
    };

    public static string Help() => Flags.Help(Command);

    public static DemoOptions Parse(string[] args)
    {
        var p = Flags.Parse(Command, args);
        var configDir = Path.GetFullPath(p.GetValue(ConfigDirFlag) ?? Path.Combine(RepoLayout.Root, "config"));
        if (!Directory.Exists(configDir))
        {
            throw new UsageException($"--config-dir expects an existing directory, got '{configDir}'");
        }
        return new DemoOptions(p.GetValue(SmokeFlag), p.GetValue(FreePortsFlag), configDir, p.GetValue(DataDirFlag), p.GetValue(TraceSamplingFlag));
    }
}
