namespace Mesh.Sidecar.Transport;

/// <summary>Plain HTTP/1.1 between sidecars (used until mutual TLS is configured).</summary>
internal sealed class PlainHttpTransport : IUpstreamTransport
{
    public string Scheme => "http";
    public Version HttpVersion => System.Net.HttpVersion.Version11;
    public void ConfigureHandler(SocketsHttpHandler handler)
    {
    }
}
