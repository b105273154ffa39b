namespace Mesh.Sidecar.Hosting;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Registered {InstanceId} as {Service}.{Namespace} at {Address}:{Port}; lease {LeaseTtl}, heartbeat every {Interval}")]
    public static partial void Registered(ILogger logger, string instanceId, string service, string @namespace, string address, int port, TimeSpan leaseTtl, TimeSpan interval);

    [LoggerMessage(2, LogLevel.Warning, "Control plane {ControlPlane} unreachable ({Reason}); attempt {Attempt}, retrying in {Delay}")]
    public static partial void ControlPlaneUnreachable(ILogger logger, string controlPlane, string reason, int attempt, TimeSpan delay);

    [LoggerMessage(3, LogLevel.Information, "Applied snapshot {Version} from {Source}: {Hosts} host(s), {Clusters} cluster(s), {Endpoints} healthy endpoint(s)")]
    public static partial void SnapshotApplied(ILogger logger, long version, string source, int hosts, int clusters, int endpoints);

    [LoggerMessage(4, LogLevel.Error, "Rejected snapshot {Version}: {Reason}; still routing on version {Applied}")]
    public static partial void SnapshotRejected(ILogger logger, long version, string reason, long applied);

    [LoggerMessage(5, LogLevel.Information, "App health on 127.0.0.1:{AppPort} is now {Health}{Detail}")]
    public static partial void AppHealthChanged(ILogger logger, int appPort, string health, string detail);

    [LoggerMessage(6, LogLevel.Warning, "Control plane does not know instance {InstanceId} (it restarted or the lease expired); registering again")]
    public static partial void Reregistering(ILogger logger, string instanceId);

    [LoggerMessage(7, LogLevel.Information, "Deregistered {InstanceId}")]
    public static partial void Deregistered(ILogger logger, string instanceId);

    [LoggerMessage(8, LogLevel.Warning, "Pinned control-plane root CA {Thumbprint} on first use in {Path}; pass --ca-cert to trust a known root instead")]
    public static partial void PinnedRoot(ILogger logger, string thumbprint, string path);

    [LoggerMessage(9, LogLevel.Warning, "Could not read saved snapshot {Path}: {Reason}")]
    public static partial void SavedSnapshotUnreadable(ILogger logger, string path, string reason);

    [LoggerMessage(10, LogLevel.Information, "Mesh sidecar {InstanceId} for {Service}.{Namespace}: outbound http://127.0.0.1:{Outbound}, inbound {InboundListen}:{Inbound}, admin http://127.0.0.1:{Admin}, app 127.0.0.1:{App}")]
    public static partial void Started(ILogger logger, string instanceId, string service, string @namespace, int outbound, string inboundListen, int inbound, int admin, int app);

    [LoggerMessage(14, LogLevel.Information, "No --app-port: an agent only, as {Service}.{Namespace}; no instance of its own is registered")]
    public static partial void AgentOnly(ILogger logger, string service, string @namespace);

    [LoggerMessage(13, LogLevel.Warning, "{Variable}={Switches}: benchmark switches off; this sidecar is for measuring their cost, not for a mesh")]
    public static partial void BenchmarkSwitchesOff(ILogger logger, string variable, string switches);

    [LoggerMessage(130, LogLevel.Warning, "Control plane {From} failed ({Reason}); moving to replica {To}")]
    public static partial void ControlPlaneMoved(ILogger logger, string from, string reason, string to);

    [LoggerMessage(131, LogLevel.Information, "Lease of {InstanceId} renewed through replica {To} (before: {From})")]
    public static partial void HeartbeatsMoved(ILogger logger, string instanceId, string from, string to);

    [LoggerMessage(11, LogLevel.Information, "Control plane {ControlPlane} reachable again")]
    public static partial void ControlPlaneReachable(ILogger logger, Uri controlPlane);

    [LoggerMessage(12, LogLevel.Information, "Draining: deregistered {InstanceId}; still serving for {DrainDelay} while callers learn it is gone")]
    public static partial void Draining(ILogger logger, string instanceId, TimeSpan drainDelay);

    [LoggerMessage(20, LogLevel.Information, "Workload certificate for {Identity}: serial {Serial}, valid until {NotAfter:u} ({How}); renewing at {RenewAt:u}")]
    public static partial void CertificateObtained(ILogger logger, string identity, string serial, DateTime notAfter, string how, DateTimeOffset renewAt);

    [LoggerMessage(21, LogLevel.Warning, "Could not get a workload certificate: {Reason}; attempt {Attempt}, retrying in {Delay}")]
    public static partial void CertificateFailed(ILogger logger, string reason, int attempt, TimeSpan delay);

    [LoggerMessage(22, LogLevel.Information, "Workload certificate for {Identity} restored from the data dir: serial {Serial}, valid until {NotAfter:u}")]
    public static partial void CertificateRestored(ILogger logger, string identity, string serial, DateTime notAfter);

    [LoggerMessage(23, LogLevel.Warning, "Refused inbound connection from {Remote}: {Reason}")]
    public static partial void InboundRefused(ILogger logger, string remote, string reason);

    [LoggerMessage(24, LogLevel.Information, "Denied {Method} {Path} from {Source}: {Reason}")]
    public static partial void Denied(ILogger logger, string method, string path, string source, string reason);

    [LoggerMessage(25, LogLevel.Warning, "Refused upstream connection for {Expected}: {Reason}")]
    public static partial void UpstreamIdentityRejected(ILogger logger, string expected, string reason);

    [LoggerMessage(26, LogLevel.Error, "TLS to external host {Host} cannot be set up as its DestinationRule asks: {Reason}; calls to it will fail")]
    public static partial void ExternalTlsUnusable(ILogger logger, string host, string reason);

    [LoggerMessage(30, LogLevel.Warning, "Gateway {Namespace}/{Name}: no Gateway resource of this name in the config; no ports are served until one is")]
    public static partial void GatewayMissing(ILogger logger, string @namespace, string name);

    [LoggerMessage(31, LogLevel.Information, "Gateway port {Number} ({Protocol}) on {Address}:{ListenPort} for {Hosts}")]
    public static partial void GatewayListener(ILogger logger, int number, string protocol, string address, int listenPort, string hosts);

    [LoggerMessage(32, LogLevel.Error, "Gateway port {Number}: {Problem}; until it loads, TLS handshakes for its hosts use the certificate they had, or fail if they had none")]
    public static partial void GatewayCertificateProblem(ILogger logger, int number, string problem);

    [LoggerMessage(33, LogLevel.Warning, "Gateway refused a TLS handshake on port {Port} for SNI '{ServerName}': {Reason}")]
    public static partial void GatewayTlsRefused(ILogger logger, int port, string serverName, string reason);

    [LoggerMessage(34, LogLevel.Error, "Gateway port {Number} would listen on {ListenPort}, which is not a port; check --gateway-port-offset and --gateway-port")]
    public static partial void GatewayPortOutOfRange(ILogger logger, int number, int listenPort);

    [LoggerMessage(35, LogLevel.Information, "Gateway certificate files changed on disk; read them again for new TLS handshakes")]
    public static partial void GatewayCertificatesChanged(ILogger logger);

    [LoggerMessage(190, LogLevel.Warning, "Passthrough (ALLOW_ANY) to {Target} failed: {Reason}")]
    public static partial void PassthroughFailed(ILogger logger, string target, string reason);
}
