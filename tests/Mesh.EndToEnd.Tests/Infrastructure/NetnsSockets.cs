using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Sockets made inside a network namespace, so the test's own HTTP client reaches a region's loopback-only
/// ports (admin APIs, outbound ports) while the test itself stays in the host's namespace. A socket belongs
/// to the namespace of the thread that made it; each is made on a short-lived thread that entered the
/// namespace with setns(2), and used from any thread afterwards.
/// </summary>
internal static partial class NetnsSockets
{
    private const int CloneNewNet = 0x40000000;

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    public static Task<Socket> CreateAsync(string netns)
    {
        var made = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{netns}");
                if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new IOException($"setns into {netns} failed: errno {Marshal.GetLastPInvokeError()}");
                }
                made.SetResult(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true });
            }
            catch (Exception e)
            {
                made.SetException(e);
            }
        }) { IsBackground = true, Name = "netns " + netns };
        thread.Start();
        return made.Task;
    }

    /// <summary>A handler whose connections are made in <paramref name="netns"/> (the host's own when null).</summary>
    public static SocketsHttpHandler Handler(string? netns)
    {
        var handler = new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false };
        if (netns is not null)
        {
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = await CreateAsync(netns).ConfigureAwait(false);
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        return handler;
    }
}
