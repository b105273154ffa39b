namespace Mesh.Core.Config.Model;

/// <summary>Ejection of endpoints that keep failing (Envoy outlier detection).</summary>
[UnsupportedFields("consecutiveErrors", "splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures")]
public sealed record OutlierDetection
{
    public int? Consecutive5xxErrors { get; init; }
    public int? ConsecutiveGatewayErrors { get; init; }
    public TimeSpan? Interval { get; init; }
    public TimeSpan? BaseEjectionTime { get; init; }
    public int? MaxEjectionPercent { get; init; }
    public int? MinHealthPercent { get; init; }
}
