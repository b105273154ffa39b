using System.Buffers;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Mesh.Sidecar.Tcp;

/// <summary>
/// Copies bytes both ways between an accepted connection and an upstream stream until both directions have
/// ended. Half-close is carried both ways: when the caller finishes sending, the upstream's write side is shut
/// (TCP FIN, or TLS close_notify between sidecars) while bytes keep flowing back, and when the upstream
/// finishes, the caller's write side is shut the same way while the caller may still send. The caller's bytes
/// are read from Kestrel's input pipe; the way back is written to the connection's socket (or, after TLS, its
/// SslStream) directly, because completing Kestrel's output pipe closes the whole connection: no half-close.
/// An error in either direction (a reset) ends both.
/// </summary>
internal static class TcpRelay
{
    /// <summary>Upstream writes are gathered up to this size: between sidecars each write is one TLS record.</summary>
    private const int WriteChunk = 64 * 1024;

    public readonly record struct Result(long Sent, long Received, string Outcome);

    public static async Task<Result> RunAsync(ConnectionContext connection, Stream upstream, Func<ValueTask> shutdownUpstreamWrite)
    {
        var caller = connection.Transport;
        var (back, shutdownBack) = WayBack(connection);
        long sent = 0, received = 0;
        var failed = 0;
        var unexpected = 0;

        void Abort()
        {
            // Unblocks the other direction: its read of the upstream fails, its read of the caller returns.
            if (Interlocked.Exchange(ref failed, 1) == 0)
            {
                upstream.Dispose();
                caller.Input.CancelPendingRead();
            }
        }

        async Task Up()
        {
            var chunk = ArrayPool<byte>.Shared.Rent(WriteChunk);
            try
            {
                while (true)
                {
                    var read = await caller.Input.ReadAsync().ConfigureAwait(false);
                    if (read.IsCanceled)
                    {
                        return;
                    }
                    var buffer = read.Buffer;
                    while (!buffer.IsEmpty)
                    {
                        var take = (int)Math.Min(buffer.Length, WriteChunk);
                        if (buffer.First.Length >= take)
                        {
                            await upstream.WriteAsync(buffer.First[..take]).ConfigureAwait(false);
                        }
                        else
                        {
                            buffer.Slice(0, take).CopyTo(chunk);
                            await upstream.WriteAsync(chunk.AsMemory(0, take)).ConfigureAwait(false);
                        }
                        sent += take;
                        buffer = buffer.Slice(take);
                    }
                    caller.Input.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        await upstream.FlushAsync().ConfigureAwait(false);
                        await shutdownUpstreamWrite().ConfigureAwait(false);
                        return;
                    }
                }
            }
            catch (Exception e)
            {
                // A reset or a peer gone is a "reset"; anything else still ends both ways, as an "error".
                if (!IsConnectionError(e))
                {
                    Volatile.Write(ref unexpected, 1);
                }
                Abort();
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        async Task Down()
        {
            var chunk = ArrayPool<byte>.Shared.Rent(WriteChunk);
            try
            {
                int n;
                while ((n = await upstream.ReadAsync(chunk.AsMemory(0, WriteChunk)).ConfigureAwait(false)) > 0)
                {
                    await back.WriteAsync(chunk.AsMemory(0, n)).ConfigureAwait(false);
                    received += n;
                }
                await shutdownBack().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A reset or a peer gone is a "reset"; anything else still ends both ways, as an "error".
                if (!IsConnectionError(e))
                {
                    Volatile.Write(ref unexpected, 1);
                }
                Abort();
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        await Task.WhenAll(Up(), Down()).ConfigureAwait(false);
        return new Result(sent, received, unexpected == 1 ? "error" : failed == 0 ? "closed" : "reset");
    }

    /// <summary>Where bytes for the caller are written, and how its write side alone is shut.</summary>
    private static (Stream Stream, Func<ValueTask> Shutdown) WayBack(ConnectionContext connection)
    {
        if (connection.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.ISslStreamFeature>()?.SslStream is { } tls)
        {
            return (tls, () => new ValueTask(tls.ShutdownAsync()));
        }
        if (connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionSocketFeature>()?.Socket is { } socket)
        {
            return (new NetworkStream(socket, ownsSocket: false), () => { socket.Shutdown(SocketShutdown.Send); return ValueTask.CompletedTask; });
        }
        // Another transport: its output pipe, whose completion may close both directions.
        var output = connection.Transport.Output.AsStream(leaveOpen: true);
        return (output, () => connection.Transport.Output.CompleteAsync());
    }

    private static bool IsConnectionError(Exception e) =>
        e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException;
}
