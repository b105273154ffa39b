using System.Globalization;
using System.Text.Json;

namespace Mesh.Sidecar.Discovery;

/// <summary>
/// Eureka's JSON, as its Java client (Jackson codec) and eureka-js-client write and read it: values are
/// often strings (<c>"@enabled": "true"</c>, timestamps), a port is <c>{"$": 8080, "@enabled": "true"}</c>,
/// and <c>@class</c> keys name Java types. Parsing reports every problem at once, each naming its field.
/// </summary>
internal static partial class EurekaJson
{
    /// <summary>A registration body <c>{"instance": {...}}</c> for the app in the path.</summary>
    public static (EurekaInstance? Instance, IReadOnlyList<string> Errors) ParseRegistration(JsonElement body, string pathApp, DateTimeOffset now)
    {
        var errors = new List<string>();
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("instance", out var i) || i.ValueKind != JsonValueKind.Object)
        {
            return (null, ["the body must be a JSON object {\"instance\": {...}}, as Eureka clients send it"]);
        }
        var app = (Text(i, "app") ?? pathApp).ToUpperInvariant();
        if (!string.Equals(app, pathApp, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"instance.app: '{app}' differs from the app in the path '{pathApp}'");
        }
        var service = app.ToLowerInvariant();
        if (!Mesh.Core.Routing.HostName.IsValid(service) || service.Contains('.'))
        {
            errors.Add($"instance.app: '{app}' lower-cased ('{service}') is the mesh service name, which must be a DNS label (letters, digits, '-', at most 63)");
        }
        var hostName = Text(i, "hostName");
        var ipAddr = Text(i, "ipAddr") ?? hostName;
        if (ipAddr is null)
        {
            errors.Add("instance.hostName and instance.ipAddr: at least one is required (the address the mesh calls the instance at)");
        }
        var (port, portEnabled) = Port(i, "port", errors, required: true);
        var (securePort, secureEnabled) = Port(i, "securePort", errors, required: false);
        if (port is not null && !portEnabled)
        {
            errors.Add("instance.port: '@enabled' is false; the mesh calls instances without a sidecar over plaintext HTTP on instance.port, so it must be enabled");
        }
        var status = Text(i, "status") is { } s ? EurekaStatus.Parse(s) ?? Invalid(errors, "instance.status", s) : EurekaStatus.Up;
        var (renewal, duration) = Lease(i, errors);
        var (dcClass, dcName, dcMetadata) = DataCenter(i, errors);
        var metadata = Map(i, "metadata", "instance.metadata", errors);
        var instanceId = Text(i, "instanceId") ?? hostName;
        if (string.IsNullOrWhiteSpace(instanceId))
        {
            errors.Add("instance.instanceId: required when instance.hostName is missing");
        }
        else if (instanceId.Contains('@') || instanceId.Contains('/'))
        {
            errors.Add($"instance.instanceId: '{instanceId}' may not contain '@' or '/' (the mesh id is '<instanceId>@<sidecar>')");
        }
        if (errors.Count > 0)
        {
            return (null, errors);
        }
        return (new EurekaInstance
        {
            InstanceId = instanceId!,
            App = app,
            HostName = hostName ?? ipAddr!,
            IpAddr = ipAddr!,
            Port = port!.Value,
            SecurePort = securePort ?? 443,
            SecurePortEnabled = securePort is not null && secureEnabled,
            VipAddress = Text(i, "vipAddress"),
            SecureVipAddress = Text(i, "secureVipAddress"),
            Status = status!,
            DataCenterClass = dcClass,
            DataCenterName = dcName,
            DataCenterMetadata = dcMetadata,
            RenewalIntervalInSecs = renewal,
            DurationInSecs = duration,
            Metadata = metadata,
            HomePageUrl = Text(i, "homePageUrl"),
            StatusPageUrl = Text(i, "statusPageUrl"),
            HealthCheckUrl = Text(i, "healthCheckUrl"),
            RegisteredAt = now,
            LastRenewedAt = now,
            LastDirtyAt = now,
        }, errors);
    }

    private static string? Invalid(List<string> errors, string field, string value)
    {
        errors.Add($"{field}: '{value}' is not a Eureka status (expected one of {string.Join(", ", EurekaStatus.All)})");
        return null;
    }

    private static string? Text(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString() is { Length: > 0 } s ? s : null,
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
            _ => null,
        } : null;

    /// <summary>A port as <c>{"$": 8080, "@enabled": "true"}</c>, or a bare number or string.</summary>
    private static (int? Port, bool Enabled) Port(JsonElement o, string name, List<string> errors, bool required)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                errors.Add($"instance.{name}: required ({{\"$\": 8080, \"@enabled\": \"true\"}})");
            }
            return (null, false);
        }
        // Eureka enables the plain port and disables the secure one unless told otherwise.
        var enabled = required;
        var value = v;
        if (v.ValueKind == JsonValueKind.Object)
        {
            if (!v.TryGetProperty("$", out value))
            {
                errors.Add($"instance.{name}: an object needs \"$\" (the port number)");
                return (null, false);
            }
            enabled = Text(v, "@enabled") is { } e ? bool.TryParse(e, out var b) && b : required;
        }
        if (Number(value) is { } port and > 0 and <= 65535)
        {
            return (port, enabled);
        }
        errors.Add($"instance.{name}: '{value.GetRawText()}' is not a port number 1-65535");
        return (null, false);
    }

    private static int? Number(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number when v.TryGetInt32(out var n) => n,
        JsonValueKind.String when int.TryParse(v.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) => n,
        _ => null,
    };

    private static (int Renewal, int Duration) Lease(JsonElement i, List<string> errors)
    {
        if (!i.TryGetProperty("leaseInfo", out var lease) || lease.ValueKind != JsonValueKind.Object)
        {
            return (30, 90);
        }
        int Seconds(string name, int fallback)
        {
            if (!lease.TryGetProperty(name, out var v))
            {
                return fallback;
            }
            if (Number(v) is { } n and > 0)
            {
                return n;
            }
            errors.Add($"instance.leaseInfo.{name}: '{v.GetRawText()}' is not a positive number of seconds");
            return fallback;
        }
        return (Seconds("renewalIntervalInSecs", 30), Seconds("durationInSecs", 90));
    }

    private static (string Class, string Name, IReadOnlyDictionary<string, string> Metadata) DataCenter(JsonElement i, List<string> errors)
    {
        if (!i.TryGetProperty("dataCenterInfo", out var dc) || dc.ValueKind != JsonValueKind.Object)
        {
            return (EurekaStatus.DefaultDataCenterClass, "MyOwn", new Dictionary<string, string>());
        }
        return (Text(dc, "@class") ?? EurekaStatus.DefaultDataCenterClass, Text(dc, "name") ?? "MyOwn",
            Map(dc, "metadata", "instance.dataCenterInfo.metadata", errors));
    }

    /// <summary>A string map; <c>@class</c> (a Java type name Jackson adds) is not a key.</summary>
    private static Dictionary<string, string> Map(JsonElement o, string name, string field, List<string> errors)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return map;
        }
        if (v.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{field}: expected an object of string values");
            return map;
        }
        foreach (var p in v.EnumerateObject().Where(p => !p.Name.StartsWith('@')))
        {
            if (p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
            {
                errors.Add($"{field}.{p.Name}: expected a string value");
                continue;
            }
            map[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
        }
        return map;
    }
}
