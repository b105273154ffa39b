using Mesh.ControlPlane.Config;
using Mesh.ControlPlane.Distribution;
using Mesh.ControlPlane.Limits;
using Mesh.ControlPlane.Registry;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Telemetry;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Mesh.ControlPlane.Hosting;

internal static class ControlPlaneServices
{
    public static IServiceCollection AddMeshControlPlane(this IServiceCollection services, ControlPlaneOptions options)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(sp => new ServiceRegistry(options.Registry, sp.GetRequiredService<TimeProvider>()));
        if (options.Store == RegistryStoreKind.Etcd)
        {
            services.TryAddSingleton(sp => new EtcdConnection(options.EtcdEndpoints, sp.GetRequiredService<TimeProvider>(), options.EtcdSecurity));
            services.AddSingleton<EtcdRegistryStore>();
            services.AddSingleton<IRegistryStore>(sp => sp.GetRequiredService<EtcdRegistryStore>());
            services.AddHostedService(sp => sp.GetRequiredService<EtcdRegistryStore>());
            // Lapsed leases are removed by the one replica elected to sweep them, never by each replica.
            services.AddSingleton<EtcdLeaseSweeper>();
            services.AddHostedService(sp => sp.GetRequiredService<EtcdLeaseSweeper>());
            services.AddSingleton<Distribution.Etcd.EtcdProxyStatusShare>();
            services.AddSingleton<IProxyStatusView>(sp => sp.GetRequiredService<Distribution.Etcd.EtcdProxyStatusShare>());
            services.AddHostedService(sp => sp.GetRequiredService<Distribution.Etcd.EtcdProxyStatusShare>());
            services.AddSingleton(sp =>
            {
                var source = ActivatorUtilities.CreateInstance<Config.Etcd.EtcdConfigSource>(sp);
                source.Load(CancellationToken.None);
                return source;
            });
            services.AddSingleton<IConfigSource>(sp => sp.GetRequiredService<Config.Etcd.EtcdConfigSource>());
            services.AddHostedService(sp => sp.GetRequiredService<Config.Etcd.EtcdConfigSource>());
            services.AddSingleton<Config.Etcd.ConfigLeader>();
            services.AddHostedService(sp => sp.GetRequiredService<Config.Etcd.ConfigLeader>());
            // Versions start at the etcd revision the registry was read at. Replicas number their own
            // snapshots (each also serves its own config dir), so a version means something only with the
            // replica's epoch, which sidecars send back: one from another replica gets a full snapshot.
            services.AddSingleton(sp => new SnapshotPublisher(
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<EtcdRegistryStore>().Load(CancellationToken.None),
                options.PushDebounce));
        }
        else
        {
            services.AddSingleton<IRegistryStore, FileRegistryStore>();
            services.AddSingleton<IProxyStatusView, LocalProxyStatusView>();
            services.AddSingleton<IConfigSource, FileConfigSource>();
            services.AddSingleton(sp => new SnapshotPublisher(
                sp.GetRequiredService<TimeProvider>(),
                StateStore.Restore(options.DataDir, sp.GetRequiredService<ServiceRegistry>(), sp.GetRequiredService<ILogger<StateStore>>()),
                options.PushDebounce));
            services.AddSingleton<StateStore>();
            services.AddHostedService(sp => sp.GetRequiredService<StateStore>());
            // On etcd, EtcdLeaseSweeper sweeps instead: a sweep of this replica's registry would drop
            // instances renewed through other replicas.
            services.AddHostedService<LeaseExpiryService>();
        }
        services.TryAddSingleton(sp => MeshCertificateAuthority.LoadOrCreate(options, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IJoinTokenRecords>(sp => options.Store == RegistryStoreKind.Etcd
            ? new EtcdJoinTokenRecords(sp.GetRequiredService<EtcdConnection>())
            : new FileJoinTokenRecords(options.DataDir));
        services.AddSingleton<JoinTokenStore>();
        services.AddSingleton(sp => options.Store == RegistryStoreKind.Etcd
            ? new AdminToken(options.DataDir, local => EtcdAdminTokenHash.Share(sp.GetRequiredService<EtcdConnection>(), local, sp.GetRequiredService<ILogger<AdminToken>>()))
            : new AdminToken(options.DataDir));
        services.AddMeshAuthentication();
        services.AddMeshLimits();
        // The history of accepted config versions: in the data dir on the embedded store, shared in etcd with the etcd store.
        services.TryAddSingleton<Config.History.IConfigHistory>(sp => options.Store == RegistryStoreKind.Etcd
            ? new Config.History.EtcdConfigHistory(sp.GetRequiredService<EtcdConnection>(), options.ConfigHistory)
            : new Config.History.FileConfigHistory(options.DataDir, options.ConfigHistory, sp.GetRequiredService<ILogger<Config.History.FileConfigHistory>>()));
        services.AddSingleton<ConfigStore>();
        services.AddSingleton<ProxyStatusTracker>();
        services.AddSingleton(sp => new ScopedSnapshots(sp.GetRequiredService<SnapshotPublisher>()));
        services.AddSingleton<ControlPlaneTelemetry>();
        services.AddSingleton<Telemetry.TrafficSignals>();
        services.AddHostedService<ConfigDirectoryWatcher>();
        // Peerings and the last import from each peer: in the data dir, or shared by every replica in etcd,
        // where one replica at a time (elected) fetches from the peers.
        if (options.Store == RegistryStoreKind.Etcd)
        {
            services.AddSingleton<Peering.IPeeringRecords>(sp => new Peering.EtcdPeeringRecords(sp.GetRequiredService<EtcdConnection>()));
            services.AddSingleton<Peering.IImportCache>(sp => new Peering.EtcdImportCache(sp.GetRequiredService<EtcdConnection>()));
            services.AddSingleton(sp => ActivatorUtilities.CreateInstance<Peering.PeerImporter>(sp, new EtcdElection(sp.GetRequiredService<EtcdConnection>(),
                Peering.PeerImporter.OfficeKey, $"{Environment.MachineName}:{options.Port} (pid {Environment.ProcessId})", Peering.PeerImporter.OfficeTtl, sp.GetRequiredService<TimeProvider>())));
        }
        else
        {
            services.AddSingleton<Peering.IPeeringRecords>(new Peering.FilePeeringRecords(options.DataDir));
            services.AddSingleton<Peering.IImportCache>(new Peering.FileImportCache(options.DataDir));
            services.AddSingleton<Peering.PeerImporter>();
        }
        services.AddSingleton<Peering.PeeringStore>();
        services.AddHostedService(sp => sp.GetRequiredService<Peering.PeerImporter>());
        if (options.DnsPort > 0)
        {
            services.AddSingleton<Discovery.DnsEndpoint>();
            services.AddHostedService(sp => sp.GetRequiredService<Discovery.DnsEndpoint>());
        }
        return services;
    }

    /// <summary>Connects registry changes to snapshots and persistence, then loads config.</summary>
    public static void StartMeshControlPlane(this IServiceProvider services)
    {
        var registry = services.GetRequiredService<ServiceRegistry>();
        var publisher = services.GetRequiredService<SnapshotPublisher>();
        var state = services.GetService<StateStore>(); // none on etcd
        publisher.Follow(registry);
        // The last imports from peers go out with the first snapshot, as the registry's own instances do.
        services.GetRequiredService<Peering.PeerImporter>().Restore();
        if (state is not null)
        {
            registry.Changed += state.MarkDirty;
        }
        if (!registry.Restored)
        {
            Log.RegistryWarmingUp(services.GetRequiredService<ILogger<ServiceRegistry>>(), services.GetRequiredService<ControlPlaneOptions>().DataDir, registry.Options.RestoreGrace);
        }
        services.GetRequiredService<ControlPlaneTelemetry>();
        // On etcd: if no replica imports the config dir yet, this one does, from its first load on.
        services.GetService<Config.Etcd.ConfigLeader>()?.TryLeadAtStart();
        services.GetRequiredService<ConfigStore>().Start();
        state?.MarkDirty();
    }
}
