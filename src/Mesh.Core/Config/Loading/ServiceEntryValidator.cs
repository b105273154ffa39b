using System.Net;
using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

internal static class ServiceEntryValidator
{
    private static readonly string[] HttpProtocols = ["HTTP", "HTTP2", "GRPC"];
    private static readonly string[] TlsProtocols = ["HTTPS", "TLS"];

    public static void Validate(ResourceProblems<ServiceEntry> p, Dictionary<string, Resource<ServiceEntry>> entryFor)
    {
        var se = p.Resource;
        var spec = se.Spec;
        if (spec.Hosts.Count == 0)
        {
            p.Error("spec.hosts", "a ServiceEntry needs at least one host");
        }
        for (var i = 0; i < spec.Hosts.Count; i++)
        {
            if (!HostName.IsValid(spec.Hosts[i]))
            {
                p.Error($"spec.hosts[{i}]", $"'{spec.Hosts[i]}' is not a valid host name");
                continue;
            }
            var host = HostName.Canonical(spec.Hosts[i], se.Metadata.Namespace);
            if (entryFor.TryGetValue(host, out var first))
            {
                p.Warning($"spec.hosts[{i}]", $"host '{spec.Hosts[i]}' is already defined by ServiceEntry '{first.Metadata.Name}' ({ConfigValidator.Where(first, "metadata.name")}); only that one applies");
            }
            else
            {
                entryFor[host] = se;
            }
            if (spec.Hosts[i].StartsWith('*') && spec.Resolution != ServiceEntryResolution.Static)
            {
                p.Error($"spec.hosts[{i}]", $"wildcard host '{spec.Hosts[i]}' needs resolution STATIC with endpoints; Mesh cannot resolve a wildcard by DNS");
            }
        }
        ValidatePorts(p, spec);
        switch (spec.Resolution)
        {
            case null:
            case ServiceEntryResolution.None:
                p.Error("spec.resolution", "resolution NONE (the default) forwards to the original destination IP, which a localhost sidecar does not have; use STATIC with endpoints or DNS");
                break;
            case ServiceEntryResolution.Static when spec.Endpoints.Count == 0:
                p.Error("spec.endpoints", "resolution STATIC needs endpoints");
                break;
        }
        for (var i = 0; i < spec.Endpoints.Count; i++)
        {
            ValidateEndpoint(p, spec, spec.Endpoints[i], $"spec.endpoints[{i}]");
        }
    }

    private static void ValidatePorts(ResourceProblems<ServiceEntry> p, ServiceEntry spec)
    {
        if (spec.Ports.Count == 0)
        {
            p.Error("spec.ports", "a ServiceEntry needs at least one port");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Ports.Count; i++)
        {
            var port = spec.Ports[i];
            var path = $"spec.ports[{i}]";
            p.Range($"{path}.number", "port number", port.Number, 1, 65535);
            p.Range($"{path}.targetPort", "targetPort", port.TargetPort, 1, 65535);
            if (port.Name.Length > 0 && !names.Add(port.Name))
            {
                p.Error($"{path}.name", $"port name '{port.Name}' is used twice");
            }
            var protocol = port.Protocol?.ToUpperInvariant() ?? "HTTP";
            // HTTPS/TLS ports: HTTP calls reach them with the sidecar originating TLS; apps speaking TLS
            // themselves reach them through a --tls-upstream listener, passed through by SNI (docs/routing.md, "TCP").
            if (!HttpProtocols.Contains(protocol) && !TlsProtocols.Contains(protocol) && !TcpRouteValidator.OpaqueProtocols.Contains(protocol))
            {
                p.Error($"{path}.protocol", $"protocol '{port.Protocol}' is not proxied by Mesh; use HTTP, HTTP2, GRPC, HTTPS, TLS, or TCP (MONGO, MYSQL and REDIS are carried as TCP)");
            }
        }
    }

    private static void ValidateEndpoint(ResourceProblems<ServiceEntry> p, ServiceEntry spec, WorkloadEntry endpoint, string path)
    {
        if (endpoint.Address.Length == 0)
        {
            p.Error(path, "an endpoint needs an address");
        }
        else if (endpoint.Address.StartsWith("unix://", StringComparison.Ordinal))
        {
            p.Error($"{path}.address", "unix domain socket endpoints are not supported");
        }
        else if (spec.Resolution == ServiceEntryResolution.Static && !IPAddress.TryParse(endpoint.Address, out _))
        {
            p.Error($"{path}.address", $"resolution STATIC needs IP addresses, got '{endpoint.Address}' (use resolution DNS for names)");
        }
        else if (!IPAddress.TryParse(endpoint.Address, out _) && !HostName.IsValid(endpoint.Address))
        {
            p.Error($"{path}.address", $"'{endpoint.Address}' is neither an IP address nor a host name");
        }
        foreach (var (name, number) in endpoint.Ports)
        {
            if (spec.Ports.All(port => port.Name != name))
            {
                p.Error($"{path}.ports.{name}", $"port '{name}' is not a port of this ServiceEntry (its ports: {string.Join(", ", spec.Ports.Select(x => x.Name))})");
            }
            p.Range($"{path}.ports.{name}", "port", number, 1, 65535);
        }
        if (endpoint.Locality is { } locality && (locality.Split('/') is var parts && (parts.Length is < 1 or > 3 || parts.Any(x => x.Length == 0))))
        {
            p.Error($"{path}.locality", $"locality '{locality}' must look like region/zone or region/zone/subzone");
        }
        p.Range($"{path}.weight", "weight", endpoint.Weight, 0, int.MaxValue);
    }
}
