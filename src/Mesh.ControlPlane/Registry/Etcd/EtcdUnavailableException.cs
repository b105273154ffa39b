namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>No etcd member answered in time; the message names the endpoints and the last error, for a 503 a user can act on.</summary>
internal sealed class EtcdUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
