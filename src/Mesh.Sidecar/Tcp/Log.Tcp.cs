namespace Mesh.Sidecar.Hosting;

/// <summary>The TCP proxy's lines (ids 200-219), one per connection, as Envoy's TCP access log.</summary>
internal static partial class Log
{
    [LoggerMessage(200, LogLevel.Information, "TCP {Direction} {Source} -> {Destination} via {Endpoint}: {Outcome}; sent {Sent} B, received {Received} B in {DurationMs:F1} ms")]
    public static partial void TcpConnection(ILogger logger, string direction, string source, string destination, string endpoint, string outcome, long sent, long received, double durationMs);

    [LoggerMessage(201, LogLevel.Warning, "TCP {Direction} connection from {Source} to {Destination} refused: {Reason}")]
    public static partial void TcpRefused(ILogger logger, string direction, string source, string destination, string reason);

    [LoggerMessage(202, LogLevel.Warning, "TCP connect to {Endpoint} of {Destination} failed ({Reason}); {Next}")]
    public static partial void TcpConnectFailed(ILogger logger, string endpoint, string destination, string reason, string next);

    [LoggerMessage(203, LogLevel.Information, "TCP listeners: {Listeners}")]
    public static partial void TcpListeners(ILogger logger, string listeners);
}
