using Microsoft.Extensions.Configuration;

namespace Mesh.Sidecar.Gateway;

/// <summary>
/// The gateway's listeners as Kestrel endpoint configuration. Kestrel binds them at start and, because
/// the sidecar hands this source to Kestrel with reloadOnChange, binds and unbinds ports whenever a new
/// Gateway config changes them, without a restart. Each endpoint is plain on this level; GatewayListeners
/// puts TLS on HTTPS ones. The protocol is in the name so that a port turning HTTP to HTTPS is rebound.
/// </summary>
internal sealed class GatewayEndpoints : ConfigurationProvider, IConfigurationSource
{
    public IConfigurationProvider Build(IConfigurationBuilder builder) => this;

    public void Set(IEnumerable<GatewayListener> listeners, string address)
    {
        var host = address.Contains(':') ? $"[{address}]" : address;
        Data = listeners.ToDictionary(
            l => $"Endpoints:gateway-{l.ListenPort}-{(l.Https ? "https" : "http")}:Url",
            l => (string?)$"http://{host}:{l.ListenPort}",
            StringComparer.OrdinalIgnoreCase);
        OnReload();
    }
}
