using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;

namespace Mesh.Sidecar.Tcp;

/// <summary>
/// Reads the server name (SNI) of a TLS ClientHello at the start of a connection without consuming it: the
/// bytes stay in the pipe and are passed through untouched, so the caller's handshake reaches the server
/// as it was sent (the sidecar never terminates that TLS).
/// </summary>
internal static class ClientHello
{
    /// <summary>A ClientHello larger than one TLS record (16 KiB) is not read; real ones are a few hundred bytes.</summary>
    private const int MaxRecord = 5 + 16 * 1024;

    public enum Outcome { ServerName, NotTls, NoServerName, Incomplete }

    /// <summary>Peeks at the first TLS record; <paramref name="serverName"/> is set for <see cref="Outcome.ServerName"/>.</summary>
    public static async Task<(Outcome, string?)> PeekServerNameAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = read.Buffer;
            var (outcome, name) = TryParse(buffer);
            if (outcome != Outcome.Incomplete || read.IsCompleted || buffer.Length >= MaxRecord)
            {
                input.AdvanceTo(buffer.Start, buffer.Start); // nothing consumed
                return (outcome, name);
            }
            input.AdvanceTo(buffer.Start, buffer.End); // examined: wait for more
        }
    }

    public static (Outcome, string?) TryParse(ReadOnlySequence<byte> sequence)
    {
        if (sequence.Length < 5)
        {
            return sequence.Length > 0 && sequence.FirstSpan[0] != 0x16 ? (Outcome.NotTls, null) : (Outcome.Incomplete, null);
        }
        Span<byte> header = stackalloc byte[5];
        sequence.Slice(0, 5).CopyTo(header);
        if (header[0] != 0x16 || header[1] != 3)
        {
            return (Outcome.NotTls, null);
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(header[3..]);
        if (sequence.Length < 5 + length)
        {
            return (Outcome.Incomplete, null);
        }
        var record = sequence.Slice(5, length).ToArray();
        return Parse(record);
    }

    private static (Outcome, string?) Parse(ReadOnlySpan<byte> hello)
    {
        // Handshake header: type 1 (ClientHello), 3-byte length; then version (2) and random (32).
        if (hello.Length < 4 || hello[0] != 1)
        {
            return (Outcome.NotTls, null);
        }
        var at = 4 + 2 + 32;
        if (!Skip(hello, ref at, 1) || !Skip(hello, ref at, 2) || !Skip(hello, ref at, 1) || at + 2 > hello.Length)
        {
            return (Outcome.NoServerName, null);
        }
        var extensionsEnd = Math.Min(hello.Length, at + 2 + BinaryPrimitives.ReadUInt16BigEndian(hello[at..]));
        at += 2;
        while (at + 4 <= extensionsEnd)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(hello[at..]);
            var size = BinaryPrimitives.ReadUInt16BigEndian(hello[(at + 2)..]);
            at += 4;
            if (type == 0 && at + 5 <= extensionsEnd && hello[at + 2] == 0)
            {
                // server_name: list length (2), name type 0 (host_name), name length (2), name.
                var nameLength = BinaryPrimitives.ReadUInt16BigEndian(hello[(at + 3)..]);
                return at + 5 + nameLength <= extensionsEnd
                    ? (Outcome.ServerName, Encoding.ASCII.GetString(hello.Slice(at + 5, nameLength)).ToLowerInvariant())
                    : (Outcome.NoServerName, null);
            }
            at += size;
        }
        return (Outcome.NoServerName, null);
    }

    /// <summary>Skips a length-prefixed field whose length takes <paramref name="lengthBytes"/> bytes.</summary>
    private static bool Skip(ReadOnlySpan<byte> data, ref int at, int lengthBytes)
    {
        if (at + lengthBytes > data.Length)
        {
            return false;
        }
        var length = lengthBytes == 1 ? data[at] : BinaryPrimitives.ReadUInt16BigEndian(data[at..]);
        at += lengthBytes + length;
        return at <= data.Length;
    }
}
