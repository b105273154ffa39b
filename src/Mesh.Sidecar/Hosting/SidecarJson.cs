using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Admin;
using Mesh.Sidecar.ControlPlane;

namespace Mesh.Sidecar.Hosting;

/// <summary>
/// The sidecar's JSON: the mesh's shapes plus its own messages and admin views, all with generated
/// metadata. The sidecar is published ahead-of-time compiled (see docs/performance.md), where
/// serialization by reflection is off; a type missing here fails its test, not production.
/// </summary>
internal static class SidecarJson
{
    public static readonly JsonSerializerOptions Options = MeshJson.With(MeshJson.Options, SidecarJsonContext.Default);
    public static readonly JsonSerializerOptions Indented = MeshJson.With(MeshJson.Indented, SidecarJsonContext.Default);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TrustBundle))]
[JsonSerializable(typeof(FederatedBundle[]))]
[JsonSerializable(typeof(IssuedCertificate))]
[JsonSerializable(typeof(CertificateRequest))]
[JsonSerializable(typeof(ConfigDump))]
[JsonSerializable(typeof(IEnumerable<ClusterView>))]
internal sealed partial class SidecarJsonContext : JsonSerializerContext;
