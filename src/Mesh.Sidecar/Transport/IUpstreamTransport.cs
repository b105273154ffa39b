namespace Mesh.Sidecar.Transport;

/// <summary>
/// How this sidecar reaches other sidecars' inbound listeners: the URL scheme of destinations, the
/// HTTP version, and the TLS settings of the connection handler. The hop is pluggable so that mutual
/// TLS can replace plain HTTP without touching routing.
/// </summary>
internal interface IUpstreamTransport
{
    string Scheme { get; }
    Version HttpVersion { get; }
    void ConfigureHandler(SocketsHttpHandler handler);
}
