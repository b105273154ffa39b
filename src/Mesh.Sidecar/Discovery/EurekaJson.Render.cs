using System.Globalization;
using System.Text.Json.Nodes;

namespace Mesh.Sidecar.Discovery;

internal static partial class EurekaJson
{
    public const string Added = "ADDED";
    public const string Modified = "MODIFIED";
    public const string Deleted = "DELETED";

    /// <summary>One instance in Eureka's JSON (<c>InstanceInfo</c>), as its servers answer it.</summary>
    public static JsonObject Instance(EurekaInstance e, string actionType = Added)
    {
        var json = new JsonObject
        {
            ["instanceId"] = e.InstanceId,
            ["hostName"] = e.HostName,
            ["app"] = e.App,
            ["ipAddr"] = e.IpAddr,
            ["status"] = e.EffectiveStatus,
            ["overriddenStatus"] = e.OverriddenStatus ?? EurekaStatus.Unknown,
            // The spelling of Eureka servers before 1.9, which some clients (Steeltoe, Go clients) still read.
            ["overriddenstatus"] = e.OverriddenStatus ?? EurekaStatus.Unknown,
            ["port"] = new JsonObject { ["$"] = e.Port, ["@enabled"] = "true" },
            ["securePort"] = new JsonObject { ["$"] = e.SecurePort, ["@enabled"] = e.SecurePortEnabled ? "true" : "false" },
            ["countryId"] = 1,
            ["dataCenterInfo"] = DataCenter(e),
            ["leaseInfo"] = new JsonObject
            {
                ["renewalIntervalInSecs"] = e.RenewalIntervalInSecs,
                ["durationInSecs"] = e.DurationInSecs,
                ["registrationTimestamp"] = e.RegisteredAt.ToUnixTimeMilliseconds(),
                ["lastRenewalTimestamp"] = e.LastRenewedAt.ToUnixTimeMilliseconds(),
                ["evictionTimestamp"] = 0,
                ["serviceUpTimestamp"] = e.RegisteredAt.ToUnixTimeMilliseconds(),
            },
            ["metadata"] = Metadata(e.Metadata),
        };
        Optional(json, "homePageUrl", e.HomePageUrl);
        Optional(json, "statusPageUrl", e.StatusPageUrl);
        Optional(json, "healthCheckUrl", e.HealthCheckUrl);
        Optional(json, "vipAddress", e.VipAddress);
        Optional(json, "secureVipAddress", e.SecureVipAddress);
        json["isCoordinatingDiscoveryServer"] = "false";
        json["lastUpdatedTimestamp"] = Millis(e.LastDirtyAt);
        json["lastDirtyTimestamp"] = Millis(e.LastDirtyAt);
        json["actionType"] = actionType;
        return json;
    }

    /// <summary><c>{"applications": {...}}</c>: the instances grouped by app, with the version and the
    /// reconcile hash code (<c>apps__hashcode</c>) that clients compare after applying a delta.</summary>
    public static JsonObject Applications(IEnumerable<(EurekaInstance Instance, string Action)> instances, long version, string hashCode)
    {
        var apps = new JsonArray();
        foreach (var app in instances.GroupBy(i => i.Instance.App, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            apps.Add((JsonNode)Application(app.Key, app));
        }
        return new JsonObject
        {
            ["applications"] = new JsonObject
            {
                ["versions__delta"] = version.ToString(CultureInfo.InvariantCulture),
                ["apps__hashcode"] = hashCode,
                ["application"] = apps,
            },
        };
    }

    public static JsonObject Application(string app, IEnumerable<(EurekaInstance Instance, string Action)> instances) => new()
    {
        ["name"] = app,
        ["instance"] = new JsonArray([.. instances.OrderBy(i => i.Instance.InstanceId, StringComparer.Ordinal).Select(i => (JsonNode)Instance(i.Instance, i.Action))]),
    };

    /// <summary>Eureka's reconcile hash code: each status with its count, in status order (<c>DOWN_1_UP_2_</c>).</summary>
    public static string HashCode(IEnumerable<EurekaInstance> instances) =>
        string.Concat(instances.GroupBy(i => i.EffectiveStatus, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key}_{g.Count().ToString(CultureInfo.InvariantCulture)}_"));

    private static JsonObject DataCenter(EurekaInstance e)
    {
        var dc = new JsonObject { ["@class"] = e.DataCenterClass, ["name"] = e.DataCenterName };
        if (e.DataCenterMetadata.Count > 0)
        {
            dc["metadata"] = Metadata(e.DataCenterMetadata);
        }
        return dc;
    }

    private static JsonObject Metadata(IReadOnlyDictionary<string, string> metadata)
    {
        if (metadata.Count == 0)
        {
            // What Jackson writes for an empty map; Java clients expect the key.
            return new JsonObject { ["@class"] = "java.util.Collections$EmptyMap" };
        }
        var json = new JsonObject();
        foreach (var (key, value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            json[key] = value;
        }
        return json;
    }

    private static void Optional(JsonObject json, string name, string? value)
    {
        if (value is not null)
        {
            json[name] = value;
        }
    }

    private static string Millis(DateTimeOffset t) => t.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
}
