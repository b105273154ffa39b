using System.Net;
using System.Net.Sockets;

namespace Mesh.Demo;

/// <summary>One instance of a shop service: its app port and its sidecar's ports.</summary>
internal sealed record ServiceInstance(string Service, string Version, string Project, int AppPort, int OutboundPort, int InboundPort, int AdminPort)
{
    public string Id => $"{Service}-{Version}";
}

/// <summary>The ingress gateway: the port callers outside the mesh use (its Gateway's port 80), and its sidecar's own ports.</summary>
internal sealed record GatewayPorts(int Port, int OutboundPort, int InboundPort, int AdminPort)
{
    public const string Name = "bookshop-gateway";
}

/// <summary>
/// The demo's processes and ports. With the well-known ports the storefront's sidecar has the
/// defaults (outbound 15001, admin 15000) and the control plane 15012/15014, so the README's commands
/// work as written; the other sidecars get 151x0 + 0 (admin), 1 (outbound), 6 (inbound). The shop is
/// entered through the ingress gateway on 8080 (its sidecar ports 15200, 15201, 15206).
/// </summary>
internal sealed record DemoTopology(int ControlPlanePort, int ControlPlaneAdminPort, int DnsPort, IReadOnlyList<ServiceInstance> Instances, GatewayPorts Gateway)
{
    private static readonly (string Service, string Version, string Project)[] Shop =
    [
        ("storefront", "v1", "Shop.Storefront"),
        ("catalog", "v1", "Shop.Catalog"),
        ("reviews", "v1", "Shop.Reviews"),
        ("reviews", "v2", "Shop.Reviews"),
        ("reviews", "v3", "Shop.Reviews"),
        ("ratings", "v1", "Shop.Ratings"),
    ];

    public ServiceInstance Entry => Instances[0];

    public static DemoTopology WellKnown() => new(15012, 15014, 8600,
        Shop.Select((s, i) => i == 0
            ? new ServiceInstance(s.Service, s.Version, s.Project, 9080, 15001, 15006, 15000)
            : new ServiceInstance(s.Service, s.Version, s.Project, 9080 + i, 15101 + (i * 10), 15106 + (i * 10), 15100 + (i * 10))).ToArray(),
        new GatewayPorts(8080, 15201, 15206, 15200));

    public static DemoTopology Free()
    {
        // Below the kernel's ephemeral range (32768-60999): a port the OS picks from that range can be taken
        // by any outgoing connection before the process told to listen on it gets there (a gateway port lost
        // that way failed a fresh-clone CI run). 10000-19999, from a random start: the tests' own free
        // ports are 20000-32000, so a demo started by a test never races the test's other processes.
        var taken = new HashSet<int>();
        var next = 10000 + Random.Shared.Next(10000);
        int Next()
        {
            for (var tries = 0; tries < 10000; tries++)
            {
                var port = next;
                next = next >= 19999 ? 10000 : next + 1;
                if (taken.Contains(port))
                {
                    continue;
                }
                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                }
                catch (SocketException)
                {
                    continue;
                }
                taken.Add(port);
                return port;
            }
            throw new InvalidOperationException("no free port on 127.0.0.1 between 10000 and 19999");
        }
        return new(Next(), Next(), Next(), Shop.Select(s => new ServiceInstance(s.Service, s.Version, s.Project, Next(), Next(), Next(), Next())).ToArray(),
            new GatewayPorts(Next(), Next(), Next(), Next()));
    }

    /// <summary>The first port some other program already listens on, if any.</summary>
    public int? FirstBusyPort()
    {
        foreach (var port in Instances.SelectMany(i => new[] { i.AppPort, i.OutboundPort, i.InboundPort, i.AdminPort })
            .Concat([Gateway.Port, Gateway.OutboundPort, Gateway.InboundPort, Gateway.AdminPort]).Prepend(DnsPort).Prepend(ControlPlaneAdminPort).Prepend(ControlPlanePort))
        {
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
            }
            catch (SocketException)
            {
                return port;
            }
        }
        return null;
    }
}
