using System.Text.Json;
using Mesh.Core.Config.Loading;
using Mesh.Core.Routing;

namespace Mesh.Sidecar.Discovery;

/// <summary>How a Consul check probes: an HTTP request, a TCP connect, or a TTL its client must keep passing.</summary>
internal enum ConsulCheckKind
{
    Http,
    Tcp,
    Ttl,
}

/// <summary>A check as registered (<c>Check</c> or one of <c>Checks</c>), with Consul's defaults filled in.</summary>
internal sealed record ConsulCheckDefinition
{
    public required string CheckId { get; init; }
    public required string Name { get; init; }
    public required ConsulCheckKind Kind { get; init; }

    /// <summary>The URL (HTTP) or host:port (TCP); empty for TTL.</summary>
    public string Target { get; init; } = "";
    public string Method { get; init; } = "GET";
    public IReadOnlyDictionary<string, string[]> Headers { get; init; } = new Dictionary<string, string[]>();
    public bool TlsSkipVerify { get; init; }
    public TimeSpan Interval { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan Ttl { get; init; }
    public TimeSpan? DeregisterCriticalServiceAfter { get; init; }
    public string Notes { get; init; } = "";

    /// <summary>The status before the first result: critical unless the registration said otherwise, as in Consul.</summary>
    public string InitialStatus { get; init; } = ConsulStatus.Critical;
}

internal static class ConsulStatus
{
    public const string Passing = "passing";
    public const string Warning = "warning";
    public const string Critical = "critical";
}

/// <summary>A service as a Consul client registered it with this agent.</summary>
internal sealed record ConsulServiceDefinition
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public string Namespace { get; init; } = "default";
    public IReadOnlyList<string> Tags { get; init; } = [];
    public IReadOnlyDictionary<string, string> Meta { get; init; } = new Dictionary<string, string>();
    public required string Address { get; init; }
    public required int Port { get; init; }
    public string? Zone { get; init; }
    public string? Region { get; init; }
    public IReadOnlyList<ConsulCheckDefinition> Checks { get; init; } = [];
}

/// <summary>
/// Reads <c>PUT /v1/agent/service/register</c> bodies as Consul does: field names in any case (python-consul
/// sends <c>name</c>, node-consul <c>Name</c>), durations in Go syntax or nanoseconds. Every problem is named
/// with its field and value, all at once; what Mesh does not implement (script, gRPC, Docker checks, Connect
/// proxies) is refused, never ignored.
/// </summary>
internal static class ConsulDefinitions
{
    public static (ConsulServiceDefinition? Service, IReadOnlyList<string> Errors) ParseService(JsonElement body, string defaultAddress, string? zone, string? region)
    {
        var errors = new List<string>();
        if (body.ValueKind != JsonValueKind.Object)
        {
            return (null, ["the body must be a JSON object (a service definition)"]);
        }
        foreach (var unsupported in new[] { "Kind", "Proxy", "Connect", "TaggedAddresses" })
        {
            if (Field(body, unsupported) is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } value && !IsEmpty(value))
            {
                errors.Add($"{unsupported}: not implemented by Mesh's Consul API (the mesh's sidecars are its proxies; register a plain service)");
            }
        }
        var name = String(body, "Name", errors);
        if (string.IsNullOrEmpty(name))
        {
            errors.Add("Name: required");
        }
        else if (!HostName.IsValid(name) || name.Contains('.') || name != name.ToLowerInvariant())
        {
            errors.Add($"Name: '{name}' is not a Mesh service name (a lower-case DNS label: letters, digits, '-')");
        }
        var id = String(body, "ID", errors) is { Length: > 0 } given ? given : name ?? "";
        if (id.Contains('@') || id.Contains('/') || id.Any(char.IsControl))
        {
            errors.Add($"ID: '{id}' may not contain '@', '/' or control characters");
        }
        var ns = String(body, "Namespace", errors) is { Length: > 0 } n ? n : "default";
        if (!HostName.IsValid(ns) || ns.Contains('.'))
        {
            errors.Add($"Namespace: '{ns}' is not a Mesh namespace (a DNS label)");
        }
        var address = String(body, "Address", errors) is { Length: > 0 } a ? a : defaultAddress;
        var port = Field(body, "Port") is { } p ? (p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out var v) ? v : -1) : 0;
        if (port is <= 0 or > 65535)
        {
            errors.Add(port == 0
                ? "Port: required by Mesh (callers are routed to Address:Port)"
                : $"Port: '{Field(body, "Port")}' is not a port number 1-65535");
        }
        var tags = Strings(body, "Tags", errors);
        var meta = StringMap(body, "Meta", errors);
        if (Field(body, "Locality") is { ValueKind: JsonValueKind.Object } locality)
        {
            zone = String(locality, "Zone", errors) ?? zone;
            region = String(locality, "Region", errors) ?? region;
        }

        var checks = new List<ConsulCheckDefinition>();
        if (Field(body, "Check") is { ValueKind: JsonValueKind.Object } single && !IsEmpty(single))
        {
            AddCheck(checks, single, "Check", $"service:{id}", name ?? "", errors);
        }
        if (Field(body, "Checks") is { } list)
        {
            if (list.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var check in list.EnumerateArray())
                {
                    i++;
                    AddCheck(checks, check, $"Checks[{i - 1}]", $"service:{id}:{i}", name ?? "", errors);
                }
            }
            else if (list.ValueKind != JsonValueKind.Null)
            {
                errors.Add("Checks: must be a list of check definitions");
            }
        }
        foreach (var duplicate in checks.GroupBy(c => c.CheckId, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add($"Checks: CheckID '{duplicate.Key}' is used by {duplicate.Count()} checks");
        }
        if (errors.Count > 0)
        {
            return (null, errors);
        }
        return (new ConsulServiceDefinition
        {
            Id = id,
            Name = name!,
            Namespace = ns,
            Tags = tags,
            Meta = meta,
            Address = address,
            Port = port,
            Zone = zone,
            Region = region,
            Checks = checks,
        }, errors);
    }

    private static void AddCheck(List<ConsulCheckDefinition> checks, JsonElement check, string path, string defaultId, string serviceName, List<string> errors)
    {
        if (check.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{path}: must be a check definition (an object)");
            return;
        }
        foreach (var unsupported in new[] { "Script", "Args", "GRPC", "DockerContainerID", "H2PING", "AliasService", "AliasNode", "OSService", "UDP" })
        {
            if (Field(check, unsupported) is { ValueKind: not JsonValueKind.Null } value && !IsEmpty(value))
            {
                errors.Add($"{path}.{unsupported}: {unsupported} checks are not implemented by Mesh; use HTTP, TCP or TTL");
            }
        }
        var http = String(check, "HTTP", errors);
        var tcp = String(check, "TCP", errors);
        var ttl = Duration(check, "TTL", path, errors);
        var kinds = (http is { Length: > 0 } ? 1 : 0) + (tcp is { Length: > 0 } ? 1 : 0) + (ttl is not null ? 1 : 0);
        if (kinds != 1)
        {
            if (!errors.Any(e => e.StartsWith(path + ".", StringComparison.Ordinal)))
            {
                errors.Add($"{path}: needs exactly one of HTTP, TCP or TTL (got {kinds})");
            }
            return;
        }
        var kind = http is { Length: > 0 } ? ConsulCheckKind.Http : tcp is { Length: > 0 } ? ConsulCheckKind.Tcp : ConsulCheckKind.Ttl;
        if (kind == ConsulCheckKind.Http && !(Uri.TryCreate(http, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
        {
            errors.Add($"{path}.HTTP: '{http}' is not an http:// or https:// URL");
        }
        if (kind == ConsulCheckKind.Tcp && !TryHostPort(tcp!))
        {
            errors.Add($"{path}.TCP: '{tcp}' is not host:port");
        }
        var interval = Duration(check, "Interval", path, errors);
        if (kind != ConsulCheckKind.Ttl && interval is not { } i)
        {
            errors.Add($"{path}.Interval: required for {kind.ToString().ToUpperInvariant()} checks (e.g. \"10s\")");
        }
        else if (interval is { } every && every < TimeSpan.FromMilliseconds(100))
        {
            errors.Add($"{path}.Interval: '{Field(check, "Interval")}' is below Mesh's minimum of 100ms");
        }
        var timeout = Duration(check, "Timeout", path, errors);
        var status = String(check, "Status", errors) ?? ConsulStatus.Critical;
        if (status is not (ConsulStatus.Passing or ConsulStatus.Warning or ConsulStatus.Critical))
        {
            errors.Add($"{path}.Status: '{status}' is not passing, warning or critical");
        }
        var method = String(check, "Method", errors) is { Length: > 0 } m ? m.ToUpperInvariant() : "GET";
        checks.Add(new ConsulCheckDefinition
        {
            CheckId = String(check, "CheckID", errors) is { Length: > 0 } cid ? cid : String(check, "ID", errors) is { Length: > 0 } id ? id : defaultId,
            Name = String(check, "Name", errors) is { Length: > 0 } name ? name : $"Service '{serviceName}' check",
            Kind = kind,
            Target = http ?? tcp ?? "",
            Method = method,
            Headers = Headers(check, path, errors),
            TlsSkipVerify = Field(check, "TLSSkipVerify") is { ValueKind: JsonValueKind.True },
            Interval = interval ?? TimeSpan.Zero,
            Timeout = timeout is { } t && t > TimeSpan.Zero ? t : interval is { } iv && iv < TimeSpan.FromSeconds(10) ? iv : TimeSpan.FromSeconds(10),
            Ttl = ttl ?? TimeSpan.Zero,
            DeregisterCriticalServiceAfter = Duration(check, "DeregisterCriticalServiceAfter", path, errors),
            Notes = String(check, "Notes", errors) ?? "",
            InitialStatus = status,
        });
    }

    private static bool TryHostPort(string text)
    {
        var colon = text.LastIndexOf(':');
        return colon > 0 && int.TryParse(text.AsSpan(colon + 1), out var port) && port is > 0 and <= 65535;
    }

    /// <summary>A field by Consul's rules: any case, with or without underscores (<c>deregister_critical_service_after</c>).</summary>
    public static JsonElement? Field(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        foreach (var property in obj.EnumerateObject())
        {
            if (string.Equals(property.Name.Replace("_", "", StringComparison.Ordinal), name, StringComparison.OrdinalIgnoreCase))
            {
                return property.Value;
            }
        }
        return null;
    }

    private static bool IsEmpty(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => !value.EnumerateObject().Any(),
        JsonValueKind.Array => value.GetArrayLength() == 0,
        JsonValueKind.String => value.GetString()!.Length == 0,
        JsonValueKind.False or JsonValueKind.Null => true,
        _ => false,
    };

    private static string? String(JsonElement obj, string name, List<string> errors)
    {
        switch (Field(obj, name))
        {
            case null or { ValueKind: JsonValueKind.Null }:
                return null;
            case { ValueKind: JsonValueKind.String } s:
                return s.GetString();
            case { } other:
                errors.Add($"{name}: expected a string, got {other.GetRawText()}");
                return null;
        }
    }

    private static IReadOnlyList<string> Strings(JsonElement obj, string name, List<string> errors)
    {
        if (Field(obj, name) is not { ValueKind: not JsonValueKind.Null } value)
        {
            return [];
        }
        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String))
        {
            errors.Add($"{name}: expected a list of strings, got {value.GetRawText()}");
            return [];
        }
        return value.EnumerateArray().Select(t => t.GetString()!).Distinct(StringComparer.Ordinal).ToArray();
    }

    private static Dictionary<string, string> StringMap(JsonElement obj, string name, List<string> errors)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Field(obj, name) is not { ValueKind: not JsonValueKind.Null } value)
        {
            return map;
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{name}: expected an object of strings, got {value.GetRawText()}");
            return map;
        }
        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                errors.Add($"{name}.{property.Name}: expected a string, got {property.Value.GetRawText()}");
                continue;
            }
            map[property.Name] = property.Value.GetString()!;
        }
        return map;
    }

    private static IReadOnlyDictionary<string, string[]> Headers(JsonElement check, string path, List<string> errors)
    {
        var headers = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        if (Field(check, "Header") is not { ValueKind: JsonValueKind.Object } value)
        {
            return headers;
        }
        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.Array || property.Value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
            {
                errors.Add($"{path}.Header.{property.Name}: expected a list of strings, got {property.Value.GetRawText()}");
                continue;
            }
            headers[property.Name] = property.Value.EnumerateArray().Select(v => v.GetString()!).ToArray();
        }
        return headers;
    }

    /// <summary>A Go duration string ("10s", "1m30s") or nanoseconds; null when absent or empty.</summary>
    public static TimeSpan? Duration(JsonElement obj, string name, string path, List<string> errors)
    {
        switch (Field(obj, name))
        {
            case null or { ValueKind: JsonValueKind.Null }:
                return null;
            case { ValueKind: JsonValueKind.String } s when s.GetString() is { Length: 0 }:
                return null;
            case { ValueKind: JsonValueKind.String } s when Durations.TryParse(s.GetString()!, out var value):
                return value;
            case { ValueKind: JsonValueKind.Number } n when n.TryGetInt64(out var nanoseconds) && nanoseconds >= 0:
                return TimeSpan.FromTicks(nanoseconds / 100);
            case { } other:
                errors.Add($"{path}.{name}: '{other}' is not a duration like \"10s\" or \"1m\"");
                return null;
        }
    }
}
