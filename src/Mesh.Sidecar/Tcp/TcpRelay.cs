using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Mesh.Sidecar.Tcp;

/// <summary>
/// Copies bytes both ways between an accepted connection (Kestrel's pipes) and an upstream stream until both
/// directions have ended. Half-close is carried: when the caller finishes sending, the upstream's write side
/// is shut (TCP FIN, or TLS close_notify between sidecars) while bytes keep flowing back; when the upstream
/// finishes, the caller's side is completed. An error in either direction (a reset) ends both.
/// </summary>
internal static class TcpRelay
{
    /// <summary>Upstream writes are gathered up to this size: between sidecars each write is one TLS record.</summary>
    private const int WriteChunk = 64 * 1024;

    public readonly record struct Result(long Sent, long Received, string Outcome);

    public static async Task<Result> RunAsync(IDuplexPipe caller, Stream upstream, Func<ValueTask> shutdownUpstreamWrite)
    {
        long sent = 0, received = 0;
        var failed = 0;

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
            catch (Exception e) when (IsConnectionError(e))
            {
                Abort();
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        async Task Down()
        {
            try
            {
                while (true)
                {
                    var memory = caller.Output.GetMemory(WriteChunk);
                    var n = await upstream.ReadAsync(memory).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }
                    caller.Output.Advance(n);
                    received += n;
                    if ((await caller.Output.FlushAsync().ConfigureAwait(false)).IsCompleted)
                    {
                        Abort(); // the caller is gone
                        return;
                    }
                }
                await caller.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (IsConnectionError(e))
            {
                Abort();
            }
        }

        await Task.WhenAll(Up(), Down()).ConfigureAwait(false);
        return new Result(sent, received, failed == 0 ? "closed" : "reset");
    }

    private static bool IsConnectionError(Exception e) =>
        e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException;
}
