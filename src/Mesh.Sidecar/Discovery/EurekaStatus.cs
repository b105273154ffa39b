namespace Mesh.Sidecar.Discovery;

/// <summary>Eureka's instance statuses.</summary>
internal static class EurekaStatus
{
    public const string Up = "UP";
    public const string Down = "DOWN";
    public const string Starting = "STARTING";
    public const string OutOfService = "OUT_OF_SERVICE";
    public const string Unknown = "UNKNOWN";

    public const string DefaultDataCenterClass = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";

    public static readonly string[] All = [Up, Down, Starting, OutOfService, Unknown];

    /// <summary>The status in Eureka's spelling, or null when it is none of Eureka's.</summary>
    public static string? Parse(string? value) =>
        value is null ? null : All.FirstOrDefault(s => string.Equals(s, value, StringComparison.OrdinalIgnoreCase));
}
