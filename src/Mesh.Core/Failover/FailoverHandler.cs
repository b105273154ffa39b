using System.Net;

namespace Mesh.Core.Failover;

/// <summary>
/// Sends each call to <see cref="ServerList.Current"/> and, when that server cannot be reached, resets the
/// connection, times out or answers 502/503/504 (down, or cut off from its store), to the next one, each
/// server at most once per call. The caller sees the last server's answer or error only when every server
/// failed, and backs off as it would with one server. Calls must be safe to repeat (ours are: register,
/// heartbeat and apply replace what is there; a watch is a read).
/// </summary>
public sealed class FailoverHandler(ServerList servers, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (list, start) = await servers.ServersAsync(cancellationToken).ConfigureAwait(false);
        var original = request.RequestUri!;
        for (var attempt = 0; ; attempt++)
        {
            var index = (start + attempt) % list.Length;
            var server = list[index];
            var last = attempt == list.Length - 1;
            request.RequestUri = server.Rebase(original);
            request.Options.Set(ServerList.AddressKey, server.Address);
            HttpResponseMessage response;
            try
            {
                response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                servers.Failed(list, index, e.Message);
                if (last)
                {
                    servers.Refresh();
                    throw;
                }
                continue;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The caller's deadline passed on this server (or the caller stopped): the next call tries another.
                servers.Failed(list, index, "timed out");
                throw;
            }
            if (response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout)
            {
                servers.Failed(list, index, $"answered {(int)response.StatusCode}");
                if (!last)
                {
                    response.Dispose();
                    continue;
                }
                servers.Refresh();
                return response;
            }
            servers.Succeeded(list, index);
            return response;
        }
    }
}
