using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A TCP app on loopback: it sends <see cref="Greeting"/> (if any) when a connection arrives, echoes every byte
/// back as it comes, and when the caller half-closes (FIN) it sends <see cref="Trailer"/> after the echo and
/// closes its side. The trailer reaching the caller proves the FIN went through while the way back stayed open.
/// With a certificate it is a TLS server instead (SNI passthrough tests).
/// </summary>
internal sealed class TcpEchoServer : IAsyncDisposable
{
    public const string Trailer = "bye\n";
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly X509Certificate2? _certificate;
    private readonly bool _closeFirst;
    private int _accepted;

    /// <summary>What callers sent after this server half-closed (closeFirst), completed when one of them closes.</summary>
    public TaskCompletionSource<string> Heard { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="closeFirst">Send the greeting, half-close at once, then only read (into <see cref="Heard"/>): the other direction of half-close.</param>
    public TcpEchoServer(string? greeting = null, X509Certificate2? certificate = null, bool closeFirst = false)
    {
        Greeting = greeting;
        _closeFirst = closeFirst;
        _certificate = certificate;
        Port = FreePorts.Next();
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public int Port { get; }
    public string? Greeting { get; }
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>The SNI each TLS connection's handshake carried, as this server saw it.</summary>
    public List<string?> ServerNames { get; } = [];

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            _ = ServeAsync(socket);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            using (socket)
            {
                Stream stream = new NetworkStream(socket, ownsSocket: false);
                if (_certificate is not null)
                {
                    var tls = new SslStream(stream);
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                    lock (ServerNames)
                    {
                        ServerNames.Add(tls.TargetHostName);
                    }
                    stream = tls;
                }
                if (Greeting is not null)
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(Greeting), _stop.Token);
                }
                var buffer = new byte[64 * 1024];
                int n;
                if (_closeFirst)
                {
                    socket.Shutdown(SocketShutdown.Send);
                    using var heard = new MemoryStream();
                    while ((n = await stream.ReadAsync(buffer, _stop.Token)) > 0)
                    {
                        heard.Write(buffer, 0, n);
                    }
                    Heard.TrySetResult(Encoding.ASCII.GetString(heard.ToArray()));
                    return;
                }
                while ((n = await stream.ReadAsync(buffer, _stop.Token)) > 0)
                {
                    await stream.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                }
                await stream.WriteAsync(Encoding.ASCII.GetBytes(Trailer), _stop.Token);
                if (stream is SslStream ssl)
                {
                    await ssl.ShutdownAsync();
                }
                socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            // the caller went away
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
        return ValueTask.CompletedTask;
    }
}
