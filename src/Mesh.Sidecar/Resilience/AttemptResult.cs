namespace Mesh.Sidecar.Resilience;

/// <summary>An attempt's outcome for Polly: whether to try again.</summary>
internal sealed record AttemptResult(bool Retry)
{
    public static readonly AttemptResult Again = new(true);
    public static readonly AttemptResult Done = new(false);
}
