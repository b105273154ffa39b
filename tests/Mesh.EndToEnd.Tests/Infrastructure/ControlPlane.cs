namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>A running control plane with its ports and directories.</summary>
internal sealed record ControlPlane(int Port, int AdminPort, string ConfigDir, string DataDir, MeshProcess Process)
{
    public Uri SidecarApi => new($"https://127.0.0.1:{Port}");
    public Uri Admin => new($"http://127.0.0.1:{AdminPort}");
}
