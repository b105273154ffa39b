namespace Mesh.Sidecar.Gateway;

/// <summary>
/// Looks at the gateway's certificate files every <see cref="Interval"/> and has them read again when one
/// changed, as a renewal by cert-manager or a script writes them; connections already open keep their
/// session, new handshakes get the new certificate. A few file times every two seconds cost nothing.
/// </summary>
internal sealed class GatewayCertificateWatcher(GatewayListeners listeners, TimeProvider time) : BackgroundService
{
    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                listeners.ReloadIfCertificatesChanged();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
