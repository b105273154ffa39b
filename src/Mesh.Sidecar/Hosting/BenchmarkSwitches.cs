namespace Mesh.Sidecar.Hosting;

/// <summary>
/// Features the benchmark's price list turns off one at a time, to measure what each costs
/// (<c>MESH_BENCH_OFF=resilience,locality</c>; see bench/run.sh --price-list and docs/performance.md).
/// Read once at start-up and applied where the sidecar is wired (which steps the pipelines hold, which
/// meters and sources are listened to, which certificate callback a connection runs), so the default
/// path carries no check for them. Not a user setting: a sidecar with any of them off is not a mesh sidecar.
/// </summary>
internal sealed record BenchmarkSwitches
{
    public const string Variable = "MESH_BENCH_OFF";

    /// <summary>Each switch's name, and what turning it off removes.</summary>
    public static readonly IReadOnlyDictionary<string, string> Names = new Dictionary<string, string>
    {
        ["resilience"] = "the resilience step (retries, per-try timeouts, outlier and local-origin detection, Polly)",
        ["locality"] = "the locality step",
        ["spiffe"] = "the checks of the peer's certificate, outbound and inbound (its chain to the mesh root and its SPIFFE id): any certificate is taken",
        ["metrics"] = "the sidecar's meters (nothing listens to its instruments)",
        ["tracing"] = "the sidecar's spans (no activity listener, whatever the sampling)",
        ["telemetry"] = "the outbound telemetry step and the per-attempt handler (spans, metrics and trace context of outbound calls)",
        ["inbound"] = "the inbound path's own work (authorization, its span and metrics): forwarding only",
    };

    public static readonly BenchmarkSwitches None = new();

    public bool Resilience { get; private init; } = true;
    public bool Locality { get; private init; } = true;
    public bool Spiffe { get; private init; } = true;
    public bool Metrics { get; private init; } = true;
    public bool Tracing { get; private init; } = true;
    public bool Telemetry { get; private init; } = true;
    public bool Inbound { get; private init; } = true;

    public bool AnyOff => this != None;

    /// <summary>Parses a comma-separated list of switches to turn off; an unknown name is an error naming the known ones.</summary>
    public static BenchmarkSwitches Parse(string? off)
    {
        var names = (off ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var name in names)
        {
            if (!Names.ContainsKey(name))
            {
                throw new Mesh.Core.Hosting.UsageException($"{Variable}: unknown switch '{name}'; known: {string.Join(", ", Names.Keys)}");
            }
        }
        return new BenchmarkSwitches
        {
            Resilience = !names.Contains("resilience"),
            Locality = !names.Contains("locality"),
            Spiffe = !names.Contains("spiffe"),
            Metrics = !names.Contains("metrics"),
            Tracing = !names.Contains("tracing"),
            Telemetry = !names.Contains("telemetry"),
            Inbound = !names.Contains("inbound"),
        };
    }

    public override string ToString() => string.Join(",", Names.Keys.Where(n => !IsOn(n)));

    private bool IsOn(string name) => name switch
    {
        "resilience" => Resilience,
        "locality" => Locality,
        "spiffe" => Spiffe,
        "metrics" => Metrics,
        "tracing" => Tracing,
        "telemetry" => Telemetry,
        _ => Inbound,
    };
}
