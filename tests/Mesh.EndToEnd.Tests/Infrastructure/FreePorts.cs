using System.Net;
using System.Net.Sockets;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Loopback ports nobody is listening on, for the processes a test starts. They come from below the
/// kernel's ephemeral range (32768-60999 on Linux): a port the OS picked from that range could be taken
/// by any outgoing connection (load tests open thousands) before the process that was told to listen
/// on it gets there.
/// </summary>
internal static class FreePorts
{
    private const int First = 20000;
    private const int Last = 32000;
    private static readonly HashSet<int> Handed = [];
    private static int _next = First + Random.Shared.Next(Last - First);

    public static int Next()
    {
        lock (Handed)
        {
            for (var tries = 0; tries < Last - First; tries++)
            {
                var port = _next;
                _next = _next >= Last ? First : _next + 1;
                if (!Handed.Contains(port) && CanListen(port))
                {
                    Handed.Add(port);
                    return port;
                }
            }
            throw new InvalidOperationException($"no free loopback port in {First}-{Last}");
        }
    }

    private static bool CanListen(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
