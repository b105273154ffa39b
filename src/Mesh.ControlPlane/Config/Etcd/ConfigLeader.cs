using Grpc.Core;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Registry.Etcd;

namespace Mesh.ControlPlane.Config.Etcd;

/// <summary>
/// Elects the one replica that imports its <c>--config-dir</c> into etcd (<see cref="EtcdElection"/> on
/// <c>/mesh/config/leader</c>, a lease of <see cref="LeaseTtl"/>). When the leader dies its lease runs out
/// and the next replica to campaign takes over and imports its own directory.
/// </summary>
internal sealed class ConfigLeader : BackgroundService
{
    public const string LeaderKey = EtcdConfigSource.Prefix + "leader";
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(5);

    private readonly EtcdElection _election;
    private readonly EtcdConfigSource _source;
    private readonly ConfigStore _store;
    private readonly ControlPlaneOptions _options;
    private readonly ILogger<ConfigLeader> _logger;

    public ConfigLeader(EtcdConnection etcd, EtcdConfigSource source, ConfigStore store, ControlPlaneOptions options, TimeProvider time, ILogger<ConfigLeader> logger)
    {
        _election = new EtcdElection(etcd, LeaderKey, $"{Environment.MachineName}:{options.Port} (pid {Environment.ProcessId})", LeaseTtl, time);
        (_source, _store, _options, _logger) = (source, store, options, logger);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => _election.RunAsync(LeadAsync, Resign, stoppingToken);

    /// <summary>One campaign before the first config load, so the first replica up imports its directory at once.</summary>
    public void TryLeadAtStart()
    {
        try
        {
            if (_election.CampaignAsync(CancellationToken.None).GetAwaiter().GetResult())
            {
                _source.IsLeader = true;
                Log.ConfigLeaderElected(_logger, _election.Candidate, _options.ConfigDir);
            }
        }
        catch (Exception e) when (e is RpcException or EtcdUnavailableException)
        {
            // The election campaigns again every second.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await _election.ResignAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task LeadAsync(CancellationToken leading)
    {
        if (!_source.IsLeader)
        {
            _source.IsLeader = true;
            Log.ConfigLeaderElected(_logger, _election.Candidate, _options.ConfigDir);
            _store.Reload();
        }
        await Task.Delay(Timeout.Infinite, leading).ConfigureAwait(false);
    }

    private void Resign(string reason)
    {
        _source.IsLeader = false;
        Log.ConfigLeaderLost(_logger, _election.Candidate, reason);
        _store.Reload();
    }
}
