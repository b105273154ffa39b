namespace Mesh.Sidecar.Discovery;

internal static partial class Log
{
    [LoggerMessage(60, LogLevel.Information, "Agent registered {InstanceId} ({Source}) as {Service}.{Namespace} at {Address}:{Port} ({Health})")]
    public static partial void AgentRegistered(ILogger logger, string instanceId, string source, string service, string @namespace, string address, int port, string health);

    [LoggerMessage(61, LogLevel.Information, "Agent deregistered {InstanceId}")]
    public static partial void AgentDeregistered(ILogger logger, string instanceId);

    [LoggerMessage(62, LogLevel.Warning, "Control plane refused the agent's registration of {InstanceId}: {Reason}")]
    public static partial void AgentRegistrationRefused(ILogger logger, string instanceId, string reason);

    [LoggerMessage(63, LogLevel.Warning, "Control plane does not know agent instance {InstanceId} (it restarted or the lease expired); registering again")]
    public static partial void AgentReregistering(ILogger logger, string instanceId);

    [LoggerMessage(64, LogLevel.Warning, "Control plane {ControlPlane} unreachable for the agent's registrations ({Reason}); attempt {Attempt}, retrying in {Delay}")]
    public static partial void ControlPlaneUnreachable(ILogger logger, string controlPlane, string reason, int attempt, TimeSpan delay);

    [LoggerMessage(65, LogLevel.Information, "Consul check {CheckId} of {ServiceId} is now {Status}: {Output}")]
    public static partial void CheckChanged(ILogger logger, string checkId, string serviceId, string status, string output);

    [LoggerMessage(66, LogLevel.Information, "Consul service {ServiceId} critical for {After}: deregistered (DeregisterCriticalServiceAfter)")]
    public static partial void CriticalDeregistered(ILogger logger, string serviceId, TimeSpan after);

    [LoggerMessage(67, LogLevel.Warning, "Could not read the agent's saved services {Path}: {Reason}; starting without them")]
    public static partial void SavedServicesUnreadable(ILogger logger, string path, string reason);
}
