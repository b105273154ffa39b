using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>A span as an OTLP collector receives it.</summary>
internal sealed record ReceivedSpan(string Service, string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, IReadOnlyDictionary<string, string> Attributes)
{
    public const int Server = 2;
    public const int Client = 3;

    public string Attribute(string key) => Attributes.TryGetValue(key, out var v) ? v : "";
}

/// <summary>
/// A real OTLP trace receiver on loopback, speaking both transports the exporter offers: gRPC
/// (HTTP/2 without TLS, <c>TraceService/Export</c>) and HTTP/protobuf (<c>POST /v1/traces</c>). It
/// decodes the protobuf with Google.Protobuf's wire reader, keeping the fields the tests look at.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentBag<ReceivedSpan> _spans = [];

    private OtlpReceiver(WebApplication app, int port)
    {
        _app = app;
        Endpoint = $"http://127.0.0.1:{port}";
    }

    public string Endpoint { get; }
    public IReadOnlyCollection<ReceivedSpan> Spans => _spans;

    public static async Task<OtlpReceiver> StartAsync(bool grpc)
    {
        var port = FreePorts.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = grpc ? HttpProtocols.Http2 : HttpProtocols.Http1));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app, port);
        app.MapPost("/v1/traces", async context =>
        {
            receiver.Decode(await ReadAllAsync(context).ConfigureAwait(false));
            context.Response.ContentType = "application/x-protobuf";
        });
        app.MapPost("/opentelemetry.proto.collector.trace.v1.TraceService/Export", async context =>
        {
            var body = await ReadAllAsync(context).ConfigureAwait(false);
            receiver.Decode(body.AsSpan(5).ToArray()); // gRPC frame: compressed flag (1 byte), length (4 bytes), message
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.WriteAsync(new byte[5]).ConfigureAwait(false); // an empty ExportTraceServiceResponse
            context.Response.AppendTrailer("grpc-status", "0");
        });
        await app.StartAsync().ConfigureAwait(false);
        return receiver;
    }

    private static async Task<byte[]> ReadAllAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer).ConfigureAwait(false);
        return buffer.ToArray();
    }

    // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    private void Decode(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1))
        {
            var service = "";
            var spans = new List<byte[]>();
            foreach (var field in Fields(resourceSpans.Bytes))
            {
                if (field.Number == 1) // Resource { repeated KeyValue attributes = 1; }
                {
                    service = Attributes(field.Bytes, 1).GetValueOrDefault("service.name", "");
                }
                else if (field.Number == 2) // ScopeSpans { scope = 1; repeated Span spans = 2; }
                {
                    spans.AddRange(Fields(field.Bytes).Where(f => f.Number == 2).Select(f => f.Bytes));
                }
            }
            foreach (var span in spans)
            {
                _spans.Add(DecodeSpan(service, span));
            }
        }
    }

    // Span { trace_id = 1; span_id = 2; parent_span_id = 4; name = 5; kind = 6; repeated KeyValue attributes = 9; }
    private static ReceivedSpan DecodeSpan(string service, byte[] span)
    {
        string traceId = "", spanId = "", parent = "", name = "";
        var kind = 0;
        var input = new CodedInputStream(span);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: traceId = Convert.ToHexStringLower(input.ReadBytes().ToByteArray()); break;
                case 2: spanId = Convert.ToHexStringLower(input.ReadBytes().ToByteArray()); break;
                case 4: parent = Convert.ToHexStringLower(input.ReadBytes().ToByteArray()); break;
                case 5: name = input.ReadString(); break;
                case 6: kind = input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        return new ReceivedSpan(service, traceId, spanId, parent, name, kind, Attributes(span, 9));
    }

    // KeyValue { key = 1; AnyValue value = 2; }  AnyValue { string_value = 1; bool_value = 2; int_value = 3; double_value = 4; }
    private static Dictionary<string, string> Attributes(byte[] message, int fieldNumber)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var keyValue in Fields(message).Where(f => f.Number == fieldNumber))
        {
            string key = "", value = "";
            foreach (var field in Fields(keyValue.Bytes))
            {
                if (field.Number == 1)
                {
                    key = System.Text.Encoding.UTF8.GetString(field.Bytes);
                }
                else if (field.Number == 2)
                {
                    value = AnyValue(field.Bytes);
                }
            }
            result[key] = value;
        }
        return result;
    }

    private static string AnyValue(byte[] message)
    {
        var input = new CodedInputStream(message);
        var tag = input.ReadTag();
        return WireFormat.GetTagFieldNumber(tag) switch
        {
            1 => input.ReadString(),
            2 => input.ReadBool() ? "true" : "false",
            3 => input.ReadInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
            4 => input.ReadDouble().ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => "",
        };
    }

    /// <summary>The length-delimited fields of a message (submessages, strings, bytes); others are skipped.</summary>
    private static IEnumerable<(int Number, byte[] Bytes)> Fields(byte[] message)
    {
        var input = new CodedInputStream(message);
        var fields = new List<(int, byte[])>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                fields.Add((WireFormat.GetTagFieldNumber(tag), input.ReadBytes().ToByteArray()));
            }
            else
            {
                input.SkipLastField();
            }
        }
        return fields;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);
}
