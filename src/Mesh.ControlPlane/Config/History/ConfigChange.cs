namespace Mesh.ControlPlane.Config.History;

/// <summary>
/// How a config change came about and who made it, as the history records it. <paramref name="How"/> is
/// one of <see cref="File"/>, <see cref="Apply"/>, <see cref="Delete"/>, <see cref="Reload"/>,
/// <see cref="Rollback"/>; <paramref name="Who"/> names the credential (<c>admin-token</c>, or
/// <c>config-dir</c> for an edit of the directory), never a secret.
/// </summary>
internal sealed record ConfigChange(string How, string Who, string? Detail = null, long? RolledBackTo = null)
{
    public const string File = "file";
    public const string Apply = "apply";
    public const string Delete = "delete";
    public const string Reload = "reload";
    public const string Rollback = "rollback";

    /// <summary>An edit of the config directory, seen by the watcher (or found at start-up).</summary>
    public static readonly ConfigChange DirectoryEdit = new(File, "config-dir");

    /// <summary>A change another replica made in the shared store (etcd): that replica records it in the shared history.</summary>
    public static readonly ConfigChange FromAnotherReplica = new(File, "another replica");
}
