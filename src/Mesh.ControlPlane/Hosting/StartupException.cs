namespace Mesh.ControlPlane.Hosting;

/// <summary>A part of the control plane could not start for a reason the operator fixes (a port in use): one line on stderr and exit code 1, not a stack trace.</summary>
internal sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);
