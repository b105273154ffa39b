using System.Net;
using System.Net.Sockets;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>Loopback ports nobody is listening on, found by letting the OS pick one.</summary>
internal static class FreePorts
{
    private static readonly HashSet<int> Handed = [];

    public static int Next()
    {
        lock (Handed)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
