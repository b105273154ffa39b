using System.Diagnostics;

namespace Mesh.Sidecar.Peering;

/// <summary>
/// Times each attempt to a cluster holding imported endpoints, from sending to the response headers, into
/// <see cref="RemoteLatency"/>. Failed attempts are not samples: outlier detection and retries judge those.
/// </summary>
internal sealed class RoundTripHandler(HttpMessageHandler inner, RemoteLatency latency) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        latency.Record(request.RequestUri!.Authority, Stopwatch.GetElapsedTime(started));
        return response;
    }
}
