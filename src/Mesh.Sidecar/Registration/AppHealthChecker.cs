using System.Net.Sockets;
using Mesh.Core.Registry;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Registration;

/// <summary>
/// Checks the local app the way Consul's agent does, next to it: an HTTP GET of --app-health expecting
/// 2xx, or a TCP connect when no path is given. Two failures in a row make it unhealthy (one slow
/// answer should not drop an instance); one success makes it healthy again.
/// </summary>
internal sealed class AppHealthChecker(SidecarOptions options) : IDisposable
{
    private const int FailuresToUnhealthy = 2;
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(1) })
    {
        Timeout = TimeSpan.FromSeconds(2),
    };
    private int _failures;

    public HealthStatus Current { get; private set; } = HealthStatus.Unknown;
    public string LastDetail { get; private set; } = "";

    /// <summary>Runs one check; returns true when the reported health changed.</summary>
    public async Task<bool> CheckAsync(CancellationToken cancellationToken)
    {
        var (ok, detail) = await ProbeAsync(cancellationToken).ConfigureAwait(false);
        LastDetail = detail;
        var previous = Current;
        if (ok)
        {
            _failures = 0;
            Current = HealthStatus.Healthy;
        }
        else if (++_failures >= FailuresToUnhealthy || Current == HealthStatus.Unknown)
        {
            Current = HealthStatus.Unhealthy;
        }
        return previous != Current;
    }

    private async Task<(bool Ok, string Detail)> ProbeAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (options.AppHealthPath is { } path)
            {
                using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{options.AppPort}{path}"), HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                return response.IsSuccessStatusCode ? (true, "") : (false, $": GET {path} answered {(int)response.StatusCode}");
            }
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            await socket.ConnectAsync("127.0.0.1", options.AppPort, timeout.Token).ConfigureAwait(false);
            return (true, "");
        }
        catch (Exception e) when ((e is HttpRequestException or SocketException or OperationCanceledException) && !cancellationToken.IsCancellationRequested)
        {
            return (false, $": {e.Message}");
        }
    }

    public void Dispose() => _http.Dispose();
}
