using Mesh.Sidecar.Hosting;
using YamlDotNet.RepresentationModel;

namespace Mesh.Sidecar.Tests.Hosting;

/// <summary>
/// docker-compose.yml cannot be run here (no Docker engine); CI validates its syntax with
/// <c>docker-compose config</c>. This checks what that cannot: every sidecar's command line parses
/// with the real flag parser and fits its app (shared network namespace, app port, address), every
/// app calls through its sidecar, and every Dockerfile and project the file names exists.
/// </summary>
public sealed class ComposeFileTests
{
    private static readonly string Root = FindRoot();
    private static readonly YamlMappingNode Services = LoadServices();

    [Fact]
    public void EverySidecar_ParsesAndFitsItsApp()
    {
        var sidecars = Services.Children.Where(s => Name(s.Key).EndsWith("-sidecar", StringComparison.Ordinal)).ToArray();
        Assert.Equal(6, sidecars.Length);
        foreach (var (key, value) in sidecars)
        {
            var service = (YamlMappingNode)value;
            var appName = Name(key)[..^"-sidecar".Length];
            Assert.Equal($"service:{appName}", Scalar(service, "network_mode"));
            var options = SidecarOptions.Parse(Command(service));
            var app = (YamlMappingNode)Services.Children[new YamlScalarNode(appName)];
            var appCommand = Command(app);
            Assert.Equal(appCommand[appCommand.IndexOf("--port") + 1], options.AppPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(appName, options.Address);
            Assert.Equal("/health", options.AppHealthPath);
            Assert.True(Services.Children.ContainsKey(new YamlScalarNode(options.ControlPlane.Host)), $"{Name(key)}: control plane host '{options.ControlPlane.Host}' is a service");
            var proxy = ((YamlMappingNode)app.Children[new YamlScalarNode("environment")]).Children[new YamlScalarNode("HTTP_PROXY")].ToString();
            Assert.Equal($"http://127.0.0.1:{options.OutboundPort}", proxy);
        }
    }

    [Fact]
    public void EveryBuild_NamesADockerfileAndProjectThatExist()
    {
        var builds = Services.Children.Select(s => s.Value).OfType<YamlMappingNode>()
            .Where(s => s.Children.ContainsKey(new YamlScalarNode("build")))
            .Select(s => (YamlMappingNode)s.Children[new YamlScalarNode("build")])
            .ToArray();
        Assert.NotEmpty(builds);
        foreach (var build in builds)
        {
            Assert.True(File.Exists(Path.Combine(Root, Scalar(build, "dockerfile"))), Scalar(build, "dockerfile"));
            if (build.Children.TryGetValue(new YamlScalarNode("args"), out var args))
            {
                var project = Scalar((YamlMappingNode)args, "PROJECT");
                Assert.True(File.Exists(Path.Combine(Root, "examples", project, project + ".csproj")), project);
            }
        }
    }

    private static List<string> Command(YamlMappingNode service) =>
        ((YamlSequenceNode)service.Children[new YamlScalarNode("command")]).Children.Select(c => c.ToString()).ToList();

    private static string Scalar(YamlMappingNode node, string key) => node.Children[new YamlScalarNode(key)].ToString();

    private static string Name(YamlNode node) => ((YamlScalarNode)node).Value!;

    private static YamlMappingNode LoadServices()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Root, "docker-compose.yml")))
        {
            yaml.Load(reader);
        }
        return (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode).Children[new YamlScalarNode("services")];
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Mesh.sln not found");
    }
}
