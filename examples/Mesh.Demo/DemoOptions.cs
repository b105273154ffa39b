using Mesh.Core.Hosting;

namespace Mesh.Demo;

/// <summary>The demo launcher's flags.</summary>
internal sealed record DemoOptions(bool Smoke, bool FreePorts, string ConfigDir, string? DataDir, double TraceSampling)
{
    public static readonly FlagSpec[] Flags =
    [
        new("config-dir", "DIR", "routing YAML the control plane watches (default: the repository's config/)"),
        new("data-dir", "DIR", "where the control plane, sidecars and logs keep their files (default: a new temp dir)"),
        new("free-ports", null, "let the OS pick every port instead of the well-known ones (15001, 15012, ...)"),
        new("smoke", null, "start everything, check calls end to end, stop everything, exit 0 if all went well"),
        new("trace-sampling", "RATIO", "share of new traces the sidecars sample, 0..1 (default 1: every call, for the demo)"),
    ];

    public static DemoOptions Parse(string[] args)
    {
        var cl = CommandLine.Parse(args, Flags);
        var configDir = Path.GetFullPath(cl.String("config-dir") ?? Path.Combine(RepoLayout.Root, "config"));
        if (!Directory.Exists(configDir))
        {
            throw new UsageException($"--config-dir expects an existing directory, got '{configDir}'");
        }
        var sampling = cl.Ratio("trace-sampling", 1.0);
        return new DemoOptions(cl.Has("smoke"), cl.Has("free-ports"), configDir, cl.String("data-dir"), sampling);
    }
}
