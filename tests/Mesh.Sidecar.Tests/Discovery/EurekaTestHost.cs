using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Discovery;
using Mesh.Sidecar.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Sidecar.Tests.Discovery;

/// <summary>The sidecar's services with the Eureka API on fake time; nothing is started, so nothing reaches a control plane.</summary>
internal sealed class EurekaTestHost : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("mesh-eureka-").FullName;
    private readonly ServiceProvider _services;

    public EurekaTestHost()
    {
        var options = SidecarOptions.Parse(["--service", "shop", "--instance-id", "shop-1", "--app-port", "9080", "--control-plane", "https://127.0.0.1:1",
            "--data-dir", _dataDir, "--eureka-port", "18761"]);
        var services = new ServiceCollection().AddLogging().AddSingleton<TimeProvider>(Time);
        services.AddMeshSidecar(options);
        services.AddMeshEureka(options);
        _services = services.BuildServiceProvider();
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
    public EurekaAgent Eureka => _services.GetRequiredService<EurekaAgent>();
    public EurekaHandler Handler => _services.GetRequiredService<EurekaHandler>();
    public AgentRegistrations Agent => _services.GetRequiredService<AgentRegistrations>();

    /// <summary>Applies a snapshot holding these instances, as the snapshot watcher would.</summary>
    public void Apply(long version, IReadOnlyList<ServiceInstance> instances) =>
        _services.GetRequiredService<MeshState>().Set(new MeshState.Applied(new MeshSnapshot { Version = version, Instances = instances }, RouteTable.Empty, "test",
            Time.GetUtcNow(), WorkloadPolicy.For(ConfigSet.Empty, "default", "shop", new Dictionary<string, string>()), new Dictionary<string, RoutedCluster>()));

    public void Dispose()
    {
        _services.Dispose();
        Directory.Delete(_dataDir, recursive: true);
    }
}
