namespace Mesh.Sidecar.Hosting;

/// <summary>Whether the sidecar can route, and if not (or only from a saved snapshot), why.</summary>
internal sealed class Readiness
{
    private volatile State _state = new(false, "waiting for the first snapshot from the control plane");

    public bool IsReady => _state.Ready;
    public string Reason => _state.Reason;

    /// <summary>Routes are in place; <paramref name="note"/> says what is degraded, if anything.</summary>
    public void SetRoutes(string? note) => _state = new State(true, note ?? "ready");

    public void NotReady(string reason) => _state = new State(false, reason);

    private sealed record State(bool Ready, string Reason);
}
