using System.Net;
using System.Net.Sockets;

namespace Mesh.Sidecar.Hosting;

/// <summary>
/// The sidecar's ports, tried before the host starts: one taken by another process (a second sidecar on
/// this host wanting the Consul agent's 8500, say) stops the sidecar with one line naming the port and
/// its flag, where Kestrel would log its start failure with stack traces.
/// </summary>
internal static class ListenerPorts
{
    public static string? FirstTaken(SidecarOptions options)
    {
        var ports = new List<(string Flag, IPAddress Address, int Port)>
        {
            ("--outbound-port", IPAddress.Loopback, options.OutboundPort),
            ("--inbound-port", IPAddress.Parse(options.InboundListen), options.InboundPort),
            ("--admin-port", IPAddress.Loopback, options.AdminPort),
        };
        ports.AddRange(options.TcpUpstreams.Select(u => ("--tcp-upstream", IPAddress.Loopback, u.LocalPort)));
        ports.AddRange(options.TlsUpstreams.Select(u => ("--tls-upstream", IPAddress.Loopback, u.LocalPort)));
        if (options.ConsulPort != 0)
        {
            ports.Add(("--consul-port", IPAddress.Loopback, options.ConsulPort));
        }
        if (options.EurekaPort != 0)
        {
            ports.Add(("--eureka-port", IPAddress.Loopback, options.EurekaPort));
        }
        foreach (var (flag, address, port) in ports)
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true); // as Kestrel binds
            try
            {
                socket.Bind(new IPEndPoint(address, port));
            }
            catch (SocketException e)
            {
                var off = flag is "--consul-port" or "--eureka-port" ? $", or {flag} 0 to turn that API off" : "";
                return $"{flag} {address}:{port} cannot be bound ({e.SocketErrorCode}): another process has it; pass {flag} with a free port{off}";
            }
        }
        return null;
    }
}
