using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mesh.Sidecar.Telemetry;

namespace Mesh.Sidecar.Tcp;

/// <summary>
/// Connection-level instruments of the TCP proxy, on the sidecar's meter (so on <c>/metrics</c> beside the
/// request metrics), tagged <c>direction</c>, <c>source</c>, <c>destination</c> and, once closed, <c>outcome</c>;
/// Istio's <c>istio_tcp_*</c> set: connections opened/closed, bytes each way, and the duration.
/// </summary>
internal static class TcpTelemetry
{
    public static readonly Counter<long> Opened = SidecarTelemetry.Meter.CreateCounter<long>("mesh.tcp.connections.opened", description: "TCP connections accepted by the sidecar's TCP proxy");
    public static readonly Counter<long> Closed = SidecarTelemetry.Meter.CreateCounter<long>("mesh.tcp.connections.closed", description: "TCP connections the TCP proxy finished, by outcome");
    public static readonly UpDownCounter<long> Active = SidecarTelemetry.Meter.CreateUpDownCounter<long>("mesh.tcp.connections.active", description: "TCP connections open through the TCP proxy now");

    /// <summary>Bytes from the connection's caller to its destination.</summary>
    public static readonly Counter<long> Sent = SidecarTelemetry.Meter.CreateCounter<long>("mesh.tcp.sent", unit: "By", description: "Bytes the TCP proxy carried from caller to destination");

    /// <summary>Bytes from the destination back to the caller.</summary>
    public static readonly Counter<long> Received = SidecarTelemetry.Meter.CreateCounter<long>("mesh.tcp.received", unit: "By", description: "Bytes the TCP proxy carried from destination to caller");

    public static readonly Histogram<double> Duration = SidecarTelemetry.Meter.CreateHistogram<double>("mesh.tcp.connection.duration", unit: "ms", description: "Time from a TCP connection's arrival to its close");
}

/// <summary>One connection's account: opened when made, and closed once, with its bytes, span and log line.</summary>
internal sealed class TcpConnectionRecord
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly string _direction;
    private readonly string _source;

    public string Direction => _direction;
    public string Source => _source;
    private readonly Activity? _span;
    private int _closed;

    public TcpConnectionRecord(string direction, string source, string destination)
    {
        _direction = direction;
        _source = source;
        Destination = destination;
        var tags = Tags(null);
        TcpTelemetry.Opened.Add(1, tags);
        TcpTelemetry.Active.Add(1, tags);
        _span = SidecarTelemetry.Source.StartActivity($"tcp {direction} {destination}", direction == "inbound" ? ActivityKind.Server : ActivityKind.Client);
        _span?.SetTag("mesh.direction", direction);
        _span?.SetTag("mesh.source", source);
        _span?.SetTag("network.transport", "tcp");
    }

    /// <summary>The host the caller asked for (inbound: this sidecar's service).</summary>
    public string Destination { get; }

    public string Endpoint { get; set; } = "-";

    public void Close(string outcome, long sent, long received, ILogger logger)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }
        var elapsed = Stopwatch.GetElapsedTime(_started).TotalMilliseconds;
        TcpTelemetry.Active.Add(-1, Tags(null));
        var tags = Tags(outcome);
        TcpTelemetry.Closed.Add(1, tags);
        TcpTelemetry.Sent.Add(sent, tags);
        TcpTelemetry.Received.Add(received, tags);
        TcpTelemetry.Duration.Record(elapsed, tags);
        if (_span is not null)
        {
            _span.SetTag("mesh.destination", Destination);
            _span.SetTag("mesh.endpoint", Endpoint);
            _span.SetTag("mesh.tcp.outcome", outcome);
            _span.SetTag("mesh.tcp.sent", sent);
            _span.SetTag("mesh.tcp.received", received);
            _span.SetStatus(outcome == "closed" ? ActivityStatusCode.Unset : ActivityStatusCode.Error, outcome == "closed" ? null : outcome);
            _span.Dispose();
        }
        Hosting.Log.TcpConnection(logger, _direction, _source, Destination, Endpoint, outcome, sent, received, elapsed);
    }

    private TagList Tags(string? outcome)
    {
        var tags = new TagList { { "direction", _direction }, { "source", _source }, { "destination", Destination } };
        if (outcome is not null)
        {
            tags.Add("outcome", outcome);
        }
        return tags;
    }
}
