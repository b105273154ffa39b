namespace Mesh.Core.Registry;

public enum HealthStatus
{
    /// <summary>Registered, no health check result yet; not routed to.</summary>
    Unknown,
    Healthy,
    Unhealthy,
    /// <summary>Shutting down: finishes in-flight calls but takes no new ones.</summary>
    Draining,
}
