namespace Mesh.Core.Hosting;

/// <summary>A bad command line: the message is one line naming the flag and what it expects.</summary>
public sealed class UsageException(string message) : Exception(message);
