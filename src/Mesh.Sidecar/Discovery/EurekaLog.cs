namespace Mesh.Sidecar.Discovery;

internal static partial class Log
{
    [LoggerMessage(80, LogLevel.Information, "Eureka API on http://127.0.0.1:{Port}/eureka/ (registrations go to namespace {Namespace})")]
    public static partial void EurekaListening(ILogger logger, int port, string @namespace);

    [LoggerMessage(81, LogLevel.Information, "Eureka registered {App}/{InstanceId} as {MeshId} at {Address}:{Port} ({Status}, lease {DurationInSecs} s)")]
    public static partial void EurekaRegistered(ILogger logger, string app, string instanceId, string meshId, string address, int port, string status, int durationInSecs);

    [LoggerMessage(82, LogLevel.Information, "Eureka cancelled {App}/{InstanceId} ({MeshId})")]
    public static partial void EurekaCancelled(ILogger logger, string app, string instanceId, string meshId);

    [LoggerMessage(83, LogLevel.Information, "Eureka evicted {App}/{InstanceId} ({MeshId}): no renewal for {Since}")]
    public static partial void EurekaEvicted(ILogger logger, string app, string instanceId, string meshId, TimeSpan since);

    [LoggerMessage(84, LogLevel.Information, "Eureka {App}/{InstanceId} was {Before}, is now {Status}")]
    public static partial void EurekaStatusChanged(ILogger logger, string app, string instanceId, string before, string status);

    [LoggerMessage(85, LogLevel.Warning, "Eureka registration of {App}/{InstanceId} refused: {Reason}")]
    public static partial void EurekaRefused(ILogger logger, string app, string instanceId, string reason);
}
