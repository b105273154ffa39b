using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

internal static class GatewayValidator
{
    public static void Validate(ResourceProblems<Gateway> p)
    {
        var spec = p.Resource.Spec;
        if (spec.Servers.Count == 0)
        {
            p.Error("spec.servers", "a Gateway needs at least one server");
        }
        var portNames = new Dictionary<string, int>(StringComparer.Ordinal);
        // Per port: its protocol and the hosts its servers serve, to find servers that contradict each other.
        var ports = new Dictionary<int, (string Protocol, int Server, HashSet<string> Hosts)>();
        for (var s = 0; s < spec.Servers.Count; s++)
        {
            var server = spec.Servers[s];
            var path = $"spec.servers[{s}]";
            if (server.Port is not { } port)
            {
                p.Error(path, "a server needs port (number, name, protocol)");
                continue;
            }
            p.Range($"{path}.port.number", "port number", port.Number, 1, 65535);
            if (port.Name.Length > 0 && portNames.TryGetValue(port.Name, out var other))
            {
                p.Error($"{path}.port.name", $"port name '{port.Name}' is already used by spec.servers[{other}]");
            }
            else if (port.Name.Length > 0)
            {
                portNames[port.Name] = s;
            }
            var protocol = port.Protocol?.ToUpperInvariant();
            if (protocol is not ("HTTP" or "HTTPS"))
            {
                p.Error($"{path}.port.protocol", port.Protocol is null
                    ? "a server needs port.protocol: HTTP or HTTPS"
                    : $"protocol '{port.Protocol}' is not served by the Mesh gateway; use HTTP or HTTPS (HTTP2, GRPC, TCP, TLS and MONGO are not implemented)");
            }
            ValidateTls(p, server.Tls, protocol, $"{path}.tls");
            if (server.Hosts.Count == 0)
            {
                p.Error($"{path}.hosts", "a server needs at least one host ('*' for any)");
            }
            // A server with a protocol Mesh does not serve was reported above; it takes part in no port's checks.
            var hostsOnPort = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            if (protocol is "HTTP" or "HTTPS")
            {
                if (!ports.TryGetValue(port.Number, out var shared))
                {
                    ports[port.Number] = (protocol, s, hostsOnPort);
                }
                else if (shared.Protocol != protocol)
                {
                    p.Error($"{path}.port.protocol", $"port {port.Number} is {shared.Protocol} in spec.servers[{shared.Server}]; one port has one protocol");
                }
                else
                {
                    hostsOnPort = shared.Hosts;
                }
            }
            for (var h = 0; h < server.Hosts.Count; h++)
            {
                ValidateHost(p, server.Hosts[h], $"{path}.hosts[{h}]", port.Number, hostsOnPort);
            }
        }
    }

    private static void ValidateHost(ResourceProblems<Gateway> p, string written, string path, int port, HashSet<string> hostsOnPort)
    {
        var (ns, host) = GatewayBinding.ServerHost(written, p.Resource.Metadata.Namespace);
        if (ns is not null && (!HostName.IsValid(ns) || ns.Contains('.')))
        {
            p.Error(path, $"'{written}': the part before '/' must be '*', '.' or a namespace name");
        }
        if (host != "*" && !HostName.IsValid(host))
        {
            p.Error(path, $"'{written}' is not a valid host ('*', '*.example.com' or a name)");
        }
        else if (!hostsOnPort.Add(host))
        {
            p.Error(path, $"host '{host}' is served twice on port {port}; each host of a port belongs to one server");
        }
    }

    private static void ValidateTls(ResourceProblems<Gateway> p, ServerTlsSettings? tls, string? protocol, string path)
    {
        if (protocol == "HTTP")
        {
            if (tls is { Mode: not null } || tls?.CredentialName is not null || tls?.ServerCertificate is not null || tls?.PrivateKey is not null || tls?.CaCertificates is not null)
            {
                p.Error(path, "an HTTP server takes only tls.httpsRedirect; serve TLS with protocol HTTPS");
            }
            return;
        }
        if (protocol != "HTTPS")
        {
            return;
        }
        if (tls is null)
        {
            p.Error(path, "an HTTPS server needs tls with mode SIMPLE or MUTUAL and its certificate");
            return;
        }
        if (tls.HttpsRedirect)
        {
            p.Error($"{path}.httpsRedirect", "httpsRedirect belongs on an HTTP server (it redirects plain HTTP callers to HTTPS)");
        }
        switch (tls.Mode)
        {
            case null:
                p.Error(path, "tls.mode is required on an HTTPS server: SIMPLE or MUTUAL");
                return;
            case ServerTlsMode.Simple or ServerTlsMode.Mutual:
                break;
            default:
                p.Error($"{path}.mode", $"tls.mode {YamlBinder.ToUpperSnake(tls.Mode.Value.ToString())} is not implemented by the Mesh gateway; use SIMPLE or MUTUAL (it terminates TLS and routes HTTP)");
                return;
        }
        var files = tls.ServerCertificate is not null || tls.PrivateKey is not null;
        if (tls.CredentialName is not null && files)
        {
            p.Error(path, "give either credentialName or serverCertificate and privateKey, not both");
        }
        else if (tls.CredentialName is null && (tls.ServerCertificate is null || tls.PrivateKey is null))
        {
            p.Error(path, files
                ? "serverCertificate and privateKey go together"
                : "an HTTPS server needs credentialName (a directory under the gateway's --credentials-dir) or serverCertificate and privateKey (PEM files on the gateway's machine)");
        }
        if (tls.CredentialName is { } name && (name.Length == 0 || name.Contains('/') || name.Contains('\\') || name is "." or ".."))
        {
            p.Error($"{path}.credentialName", $"credentialName '{name}' must be a plain name (it names a directory under --credentials-dir)");
        }
        if (tls.Mode == ServerTlsMode.Simple && tls.CaCertificates is not null)
        {
            p.Error($"{path}.caCertificates", "caCertificates verifies client certificates, which only mode MUTUAL asks for");
        }
        if (tls.Mode == ServerTlsMode.Mutual && tls.CaCertificates is null && tls.CredentialName is null)
        {
            p.Error(path, "mode MUTUAL needs caCertificates (a PEM file of the roots client certificates must chain to), or a credentialName whose directory holds ca.crt");
        }
    }
}
