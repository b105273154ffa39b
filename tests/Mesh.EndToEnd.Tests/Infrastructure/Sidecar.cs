namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>A running sidecar with its ports and the app behind it.</summary>
internal sealed record Sidecar(string Service, string InstanceId, int OutboundPort, int InboundPort, int AdminPort, int AppPort, string DataDir, MeshProcess Process, string[] Args)
{
    public Uri Outbound => new($"http://127.0.0.1:{OutboundPort}");
    public Uri Admin => new($"http://127.0.0.1:{AdminPort}");
}
