using Mesh.Sidecar.Configuration;

namespace Mesh.Sidecar.Telemetry;

/// <summary>Values read when Prometheus scrapes: the applied snapshot and config versions, and how old the snapshot is.</summary>
internal sealed class SidecarGauges
{
    public SidecarGauges(MeshState state, TimeProvider time, Mesh.Sidecar.Security.WorkloadIdentity identity)
    {
        SidecarTelemetry.Meter.CreateObservableGauge("mesh.snapshot.version", () => state.Current?.Snapshot.Version ?? 0, description: "Version of the snapshot this sidecar applied");
        SidecarTelemetry.Meter.CreateObservableGauge("mesh.config.version", () => state.Current?.Snapshot.ConfigVersion ?? 0, description: "Version of the routing config this sidecar applied");
        SidecarTelemetry.Meter.CreateObservableGauge("mesh.certificate.expiry", () => identity.Value is { } id ? id.NotAfter.ToUnixTimeSeconds() : 0, unit: "s",
            description: "When this sidecar's workload certificate expires, seconds since the Unix epoch (0: none yet)");
        SidecarTelemetry.Meter.CreateObservableGauge("mesh.snapshot.age", () => state.Current is { } applied ? (time.GetUtcNow() - applied.AppliedAt).TotalSeconds : 0, unit: "s", description: "Time since this sidecar applied its snapshot");
    }
}
