using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using Mesh.Core.Hosting;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Tcp;

namespace Mesh.Sidecar.Tests.Tcp;

public sealed class TcpFlagsTests
{
    private static readonly string[] Required = ["--service", "tcp-echo", "--app-port", "9080", "--control-plane", "https://127.0.0.1:15012", "--data-dir", "/tmp/x"];

    [Fact]
    public void Parse_TcpFlags_ReadPortsProtocolsAndListeners()
    {
        var options = SidecarOptions.Parse([.. Required, "--app-tcp-port", "9000=19000", "--app-tcp-port", "redis/6379=16379",
            "--tcp-upstream", "orders-db.example.com:5432=15432", "--tls-upstream", "443=15443"]);

        Assert.Equal([new AppTcpPort(9000, "TCP", 19000), new AppTcpPort(6379, "REDIS", 16379)], options.AppTcpPorts);
        Assert.Equal([new TcpUpstream("orders-db.example.com", 5432, 15432)], options.TcpUpstreams);
        Assert.Equal([new TlsUpstream(443, 15443)], options.TlsUpstreams);
    }

    [Theory]
    [InlineData("--app-tcp-port", "9000", "--app-tcp-port expects [protocol/]number=port, got '9000'")]
    [InlineData("--app-tcp-port", "udp/53=1053", "--app-tcp-port protocol 'udp' is not carried as TCP; use one of TCP, MONGO, MYSQL, REDIS (e.g. REDIS/6379=16379)")]
    [InlineData("--app-tcp-port", "9000=70000", "--app-tcp-port expects [PROTOCOL/]NUMBER=APP_PORT, e.g. 5432=15432 (ports 1-65535), got '9000=70000'")]
    [InlineData("--tcp-upstream", "orders-db=15432", "--tcp-upstream expects HOST:PORT=LOCAL_PORT, e.g. orders-db:5432=15432, got 'orders-db=15432'")]
    [InlineData("--tcp-upstream", "orders-db:0=15432", "--tcp-upstream expects HOST:PORT=LOCAL_PORT, e.g. orders-db:5432=15432 (ports 1-65535), got 'orders-db:0=15432'")]
    [InlineData("--tls-upstream", "443=15001", "--outbound-port and --tls-upstream are both 15001; each needs its own port")]
    public void Parse_BadTcpFlag_SaysWhichAndWhatWouldBeRight(string flag, string value, string message)
    {
        var e = Assert.Throws<UsageException>(() => SidecarOptions.Parse([.. Required, flag, value]));

        Assert.Equal(message, e.Message);
    }

    [Fact]
    public async Task PeekServerName_RealClientHello_ReadsSniAndConsumesNothing()
    {
        var pipe = new Pipe();
        // A real ClientHello, from SslStream, into the pipe; the handshake never completes.
        var client = new SslStream(new PipeWriterStream(pipe.Writer));
        _ = client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "API.Example.com" });

        var (outcome, name) = await ClientHello.PeekServerNameAsync(pipe.Reader, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);

        Assert.Equal((ClientHello.Outcome.ServerName, "api.example.com"), (outcome, name));
        var again = await pipe.Reader.ReadAsync();
        Assert.Equal(0x16, again.Buffer.FirstSpan[0]); // still there, from the first byte, for the relay
    }

    [Fact]
    public void TryParse_PlainText_IsNotTls()
    {
        Assert.Equal(ClientHello.Outcome.NotTls, ClientHello.TryParse(new ReadOnlySequence<byte>("GET / HTTP/1.1\r\n"u8.ToArray())).Item1);
    }

    /// <summary>Writes go to the pipe; reads wait forever (the server never answers).</summary>
    private sealed class PipeWriterStream(PipeWriter writer) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => await writer.WriteAsync(buffer, cancellationToken);
    }
}
