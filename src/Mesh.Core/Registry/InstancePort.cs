namespace Mesh.Core.Registry;

/// <summary>
/// A TCP port an instance serves besides HTTP (its sidecar's <c>--app-tcp-port</c>): the service port
/// callers name and its protocol (<c>TCP</c>, <c>MONGO</c>, <c>MYSQL</c>, <c>REDIS</c>, all carried as
/// opaque TCP). Callers reach it through the instance's sidecar inbound port, naming it by ALPN.
/// </summary>
public sealed record InstancePort(int Number, string Protocol);
