namespace Mesh.Sidecar.Hosting;

/// <summary>Whether the sidecar can serve: it needs routes and a workload certificate.</summary>
internal sealed class Readiness
{
    private volatile State _state = new(false, "waiting for the first snapshot from the control plane");
    private volatile string? _identityMissing = "waiting for a workload certificate from the control plane";

    public bool IsReady => _state.Ready && _identityMissing is null;
    public string Reason => (_state.Ready, _identityMissing) switch
    {
        (true, null) => _state.Reason,
        (true, { } missing) => missing,
        (false, null) => _state.Reason,
        (false, { } missing) => $"{_state.Reason}; {missing}",
    };

    /// <summary>Routes are in place; <paramref name="note"/> says what is degraded, if anything.</summary>
    public void SetRoutes(string? note) => _state = new State(true, note ?? "ready");

    public void NotReady(string reason) => _state = new State(false, reason);

    /// <summary>Null: a valid workload certificate is in hand; otherwise why not.</summary>
    public void SetIdentity(string? missing) => _identityMissing = missing;

    private sealed record State(bool Ready, string Reason);
}
