using Mesh.Core.Config.Model;
using Mesh.Core.Registry;

namespace Mesh.Core.Routing;

/// <summary>Turns ServiceEntry hosts into endpoint lists the way Istio does for STATIC and DNS resolution.</summary>
internal static class ServiceEntryEndpoints
{
    private static readonly string[] HttpProtocols = ["HTTP", "HTTP2", "GRPC"];

    /// <summary>Endpoints and scheme of every ServiceEntry host; the first ServiceEntry for a host wins.</summary>
    public static Dictionary<string, (ServiceInstance[] Endpoints, string Scheme)> ByHost(ConfigSet config, Func<string, TlsMode?> tlsModeFor)
    {
        var byHost = new Dictionary<string, (ServiceInstance[], string)>(StringComparer.Ordinal);
        foreach (var se in config.ServiceEntries)
        {
            var spec = se.Spec;
            // Apps reach the sidecar with plain HTTP; the first HTTP port is the one routed, else the first
            // HTTPS/TLS one (the sidecar originates TLS). An entry of TCP ports only is not an HTTP host at all.
            var port = spec.Ports.FirstOrDefault(p => HttpProtocols.Contains(p.Protocol?.ToUpperInvariant() ?? "HTTP"))
                ?? spec.Ports.FirstOrDefault(p => p.Protocol?.ToUpperInvariant() is "HTTPS" or "TLS");
            if (port is null)
            {
                continue;
            }
            foreach (var written in spec.Hosts)
            {
                var host = HostName.Canonical(written, se.Metadata.Namespace);
                if (byHost.ContainsKey(host))
                {
                    continue;
                }
                // TLS origination (the app calls http://, its sidecar speaks TLS) with SIMPLE or MUTUAL, as in Istio.
                var tls = tlsModeFor(host) is TlsMode.Simple or TlsMode.Mutual || port.Protocol?.ToUpperInvariant() is "HTTPS" or "TLS";
                // DNS resolution with no endpoints: the host name itself is the one endpoint.
                var entries = spec.Endpoints.Count == 0 && !host.StartsWith('*')
                    ? [new WorkloadEntry { Address = HostName.StripPort(written) }]
                    : spec.Endpoints;
                var endpoints = entries.Select(e => Endpoint(se, host, port, e)).ToArray();
                byHost[host] = (endpoints, tls ? "https" : "http");
            }
        }
        return byHost;
    }

    private static ServiceInstance Endpoint(Resource<ServiceEntry> se, string host, ServicePort port, WorkloadEntry entry)
    {
        var number = entry.Ports.TryGetValue(port.Name, out var p) ? p : port.TargetPort ?? port.Number;
        var locality = (entry.Locality ?? "").Split('/');
        return new ServiceInstance
        {
            InstanceId = $"{se.Metadata.Namespace}/{se.Metadata.Name}/{entry.Address}:{number}",
            Service = host,
            Namespace = se.Metadata.Namespace,
            Address = entry.Address,
            Port = number,
            Labels = entry.Labels,
            Region = locality.Length > 0 && locality[0].Length > 0 ? locality[0] : null,
            Zone = locality.Length > 1 ? locality[1] : null,
            Health = HealthStatus.Healthy,
        };
    }
}
