using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Discovery;

/// <summary>
/// Consul's agent HTTP API on 127.0.0.1 (<c>--consul-port</c>), the subset stock clients use, in Consul's
/// JSON shapes and headers. Registrations and checks are this sidecar's <see cref="ConsulAgent"/>; reads
/// (health, catalog) answer from the snapshot this sidecar routes on, so a Consul client sees exactly the
/// instances the mesh routes to, and blocking queries (<c>index</c>, <c>wait</c>) return when the next
/// snapshot arrives. <c>X-Consul-Index</c> is the snapshot version. Anything else answers 501 naming what
/// is missing, never a fake success. See docs/discovery.md.
/// </summary>
internal sealed class ConsulApi(ConsulAgent agent, MeshState state, SidecarOptions options, Mesh.Sidecar.Security.WorkloadIdentity identity)
{
    private static readonly TimeSpan DefaultWait = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(10);
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private string Datacenter => options.Region ?? "dc1";

    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        var segments = path.Trim('/').Split('/');
        var method = context.Request.Method;
        return (segments, method) switch
        {
            (["v1", "agent", "service", "register"], "PUT") => RegisterAsync(context),
            // GET too, as Consul before 1.0 took these and python-consul 0.7.1 (Debian's) still sends them.
            (["v1", "agent", "service", "deregister", var id], "PUT" or "GET") => Deregister(context, id),
            (["v1", "agent", "check", var verb, var id], "PUT" or "GET") when verb is "pass" or "warn" or "fail" => UpdateCheck(context, id, verb, context.Request.Query["note"].ToString()),
            (["v1", "agent", "check", "update", var id], "PUT") => UpdateCheckBodyAsync(context, id),
            (["v1", "agent", "services"], "GET") => AgentServices(context),
            (["v1", "agent", "service", var id], "GET") => AgentService(context, id),
            (["v1", "agent", "checks"], "GET") => AgentChecks(context),
            (["v1", "agent", "self"], "GET") => AgentSelf(context),
            (["v1", "health", "service", var name], "GET") => ReadAsync(context, (w, s) => HealthService(w, s, name, context.Request.Query)),
            (["v1", "health", "checks", var name], "GET") => ReadAsync(context, (w, s) => HealthChecks(w, s, name, context.Request.Query)),
            (["v1", "catalog", "services"], "GET") => ReadAsync(context, (w, s) => CatalogServices(w, s, context.Request.Query)),
            (["v1", "catalog", "service", var name], "GET") => ReadAsync(context, (w, s) => CatalogService(w, s, name, context.Request.Query)),
            (["v1", "catalog", "nodes"], "GET") => ReadAsync(context, (w, s) => CatalogNodes(w, s)),
            (["v1", "catalog", "datacenters"], "GET") => Json(context, w => { w.WriteStartArray(); w.WriteStringValue(Datacenter); w.WriteEndArray(); }),
            (["v1", "status", "leader"], "GET") => Json(context, w => w.WriteStringValue(Leader)),
            (["v1", "status", "peers"], "GET") => Json(context, w => { w.WriteStartArray(); w.WriteStringValue(Leader); w.WriteEndArray(); }),
            (["v1", "agent", "service", "register" or "deregister", ..], _) or (["v1", "agent", "check", "pass" or "warn" or "fail" or "update", ..], _)
                => Text(context, StatusCodes.Status405MethodNotAllowed, $"method {method} not allowed"),
            (["v1", "agent" or "health" or "catalog" or "status", ..], not "GET") => Text(context, StatusCodes.Status405MethodNotAllowed, $"method {method} not allowed"),
            _ => Text(context, StatusCodes.Status501NotImplemented,
                $"Mesh's Consul API does not implement {method} {path}. It serves: PUT /v1/agent/service/register, PUT /v1/agent/service/deregister/:id, "
                + "PUT /v1/agent/check/pass|warn|fail|update/:id, GET /v1/agent/services, /v1/agent/service/:id, /v1/agent/checks, /v1/agent/self, "
                + "/v1/health/service/:name, /v1/health/checks/:name, /v1/catalog/services, /v1/catalog/service/:name, /v1/catalog/nodes, "
                + "/v1/catalog/datacenters, /v1/status/leader, /v1/status/peers (see docs/discovery.md)\n"),
        };
    }

    private string Leader => $"{options.ControlPlane.Host}:{options.ControlPlane.Port}";

    private async Task RegisterAsync(HttpContext context)
    {
        JsonDocument body;
        try
        {
            body = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            await Text(context, StatusCodes.Status400BadRequest, $"Request decode failed: {e.Message}\n").ConfigureAwait(false);
            return;
        }
        using (body)
        {
            var (service, errors) = ConsulDefinitions.ParseService(body.RootElement, options.Address, options.Zone, options.Region);
            if (service is null)
            {
                await Text(context, StatusCodes.Status400BadRequest, "Invalid service definition:\n" + string.Join("\n", errors.Select(e => "  " + e)) + "\n").ConfigureAwait(false);
                return;
            }
            // Refused here, as Consul's ACLs refuse, when this sidecar's certificate cannot register it (the control plane checks again).
            if (identity.Value is { } current
                && !Mesh.Core.Security.WorkloadCertificates.MayRegister(current.Id, Mesh.Core.Security.WorkloadCertificates.AgentScope(current.Certificate), service.Name, service.Namespace))
            {
                var scope = Mesh.Core.Security.WorkloadCertificates.AgentScope(current.Certificate);
                await Text(context, StatusCodes.Status403Forbidden,
                    $"Permission denied: this sidecar is {current.Id}; its join token lets its agent register "
                    + (scope is null ? $"only {current.Id.Service}.{current.Id.Namespace}" : $"services of namespace {scope}")
                    + $", not {service.Name}.{service.Namespace} (see docs/security.md)\n").ConfigureAwait(false);
                return;
            }
            agent.Register(service);
            context.Response.StatusCode = StatusCodes.Status200OK;
        }
    }

    private Task Deregister(HttpContext context, string id) =>
        agent.Deregister(id) ? Ok(context) : Text(context, StatusCodes.Status404NotFound, $"Unknown service ID \"{id}\". Ensure that the service ID is passed, not the service name.\n");

    private Task UpdateCheck(HttpContext context, string id, string verb, string? note)
    {
        var status = verb switch { "pass" => ConsulStatus.Passing, "warn" => ConsulStatus.Warning, _ => ConsulStatus.Critical };
        return agent.UpdateTtl(id, status, note) is { } problem ? Text(context, StatusCodes.Status404NotFound, problem + "\n") : Ok(context);
    }

    private async Task UpdateCheckBodyAsync(HttpContext context, string id)
    {
        using var body = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
        var status = ConsulDefinitions.Field(body.RootElement, "Status")?.GetString();
        if (status is not (ConsulStatus.Passing or ConsulStatus.Warning or ConsulStatus.Critical))
        {
            await Text(context, StatusCodes.Status400BadRequest, $"Invalid check status: \"{status}\"\n").ConfigureAwait(false);
            return;
        }
        var output = ConsulDefinitions.Field(body.RootElement, "Output")?.GetString();
        await (agent.UpdateTtl(id, status, output) is { } problem ? Text(context, StatusCodes.Status404NotFound, problem + "\n") : Ok(context)).ConfigureAwait(false);
    }

    private Task AgentServices(HttpContext context) => Json(context, w =>
    {
        w.WriteStartObject();
        foreach (var service in agent.Services)
        {
            w.WritePropertyName(service.Id);
            WriteAgentService(w, service);
        }
        w.WriteEndObject();
    });

    private Task AgentService(HttpContext context, string id) =>
        agent.Find(id) is { } service
            ? Json(context, w => WriteAgentService(w, service))
            : Text(context, StatusCodes.Status404NotFound, $"unknown service ID: {id}\n");

    private void WriteAgentService(Utf8JsonWriter w, ConsulServiceDefinition service)
    {
        w.WriteStartObject();
        w.WriteString("ID", service.Id);
        w.WriteString("Service", service.Name);
        WriteStrings(w, "Tags", service.Tags);
        WriteMap(w, "Meta", service.Meta);
        w.WriteNumber("Port", service.Port);
        w.WriteString("Address", service.Address);
        WriteWeights(w, "Weights");
        w.WriteBoolean("EnableTagOverride", false);
        w.WriteString("Datacenter", Datacenter);
        w.WriteString("Namespace", service.Namespace);
        if (agent.Problem(service.Id) is { } problem)
        {
            // Not a Consul field: why the mesh registry refused this service (e.g. outside the join token's scope).
            w.WriteString("MeshRegistrationError", problem);
        }
        w.WriteEndObject();
    }

    private Task AgentChecks(HttpContext context) => Json(context, w =>
    {
        w.WriteStartObject();
        foreach (var (service, check, checkState) in agent.Checks)
        {
            w.WritePropertyName(check.CheckId);
            WriteCheck(w, options.InstanceId, check.CheckId, check.Name, checkState.Status, check.Notes, checkState.Output, service.Id, service.Name, service.Tags, check.Kind.ToString().ToLowerInvariant());
        }
        w.WriteEndObject();
    });

    private Task AgentSelf(HttpContext context) => Json(context, w =>
    {
        w.WriteStartObject();
        w.WriteStartObject("Config");
        w.WriteString("Datacenter", Datacenter);
        w.WriteString("NodeName", options.InstanceId);
        w.WriteString("NodeID", "");
        w.WriteBoolean("Server", false);
        w.WriteString("Version", "1.15.0");
        w.WriteString("Product", "mesh");
        w.WriteEndObject();
        w.WriteStartObject("Member");
        w.WriteString("Name", options.InstanceId);
        w.WriteString("Addr", options.Address);
        w.WriteNumber("Port", options.ConsulPort);
        w.WriteStartObject("Tags");
        w.WriteString("dc", Datacenter);
        w.WriteString("role", "node");
        w.WriteEndObject();
        w.WriteNumber("Status", 1);
        w.WriteEndObject();
        WriteMap(w, "Meta", new Dictionary<string, string>());
        w.WriteEndObject();
    });

    /// <summary>A read from the snapshot: the query's checks, then a blocking wait when <c>index</c> is given, then the answer and its headers.</summary>
    private async Task ReadAsync(HttpContext context, Action<Utf8JsonWriter, MeshSnapshot> write)
    {
        var query = context.Request.Query;
        if (query["dc"].ToString() is { Length: > 0 } dc && dc != Datacenter)
        {
            await Text(context, StatusCodes.Status500InternalServerError, "No path to datacenter\n").ConfigureAwait(false);
            return;
        }
        if (query.ContainsKey("filter"))
        {
            await Text(context, StatusCodes.Status400BadRequest, "filter expressions are not implemented by Mesh's Consul API; use tag= and passing\n").ConfigureAwait(false);
            return;
        }
        var current = state.Current;
        if (query["index"].ToString() is { Length: > 0 } indexText)
        {
            if (!ulong.TryParse(indexText, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                await Text(context, StatusCodes.Status400BadRequest, $"Invalid index: '{indexText}' is not a non-negative integer\n").ConfigureAwait(false);
                return;
            }
            var wait = DefaultWait;
            if (query["wait"].ToString() is { Length: > 0 } waitText)
            {
                if (!Durations.TryParse(waitText, out wait))
                {
                    await Text(context, StatusCodes.Status400BadRequest, $"Invalid wait time: '{waitText}' is not a duration like 10s or 5m\n").ConfigureAwait(false);
                    return;
                }
                wait = wait > MaxWait ? MaxWait : wait;
            }
            // An index from another history (above the current version) is answered at once, as Consul does
            // after a reset, so the client starts over from the index it is given.
            if (current is not null && (long)Math.Min(index, long.MaxValue) <= current.Snapshot.Version && index > 0)
            {
                try
                {
                    current = await state.WaitNewerAsync((long)index, wait, context.RequestAborted).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return; // the client went away
                }
            }
        }
        if (current is null)
        {
            await Text(context, StatusCodes.Status500InternalServerError, "No cluster leader (this sidecar has no snapshot from the control plane yet)\n").ConfigureAwait(false);
            return;
        }
        var headers = context.Response.Headers;
        headers["X-Consul-Index"] = Math.Max(1, current.Snapshot.Version).ToString(CultureInfo.InvariantCulture);
        headers["X-Consul-KnownLeader"] = "true";
        headers["X-Consul-LastContact"] = "0";
        headers["X-Consul-Effective-Consistency"] = "stale";
        await Json(context, w => write(w, current.Snapshot)).ConfigureAwait(false);
    }

    private static string Namespace(IQueryCollection query) => query["ns"].ToString() is { Length: > 0 } ns ? ns : "default";

    private static IEnumerable<ServiceInstance> Instances(MeshSnapshot snapshot, string name, IQueryCollection query)
    {
        var ns = Namespace(query);
        var tags = query["tag"].Where(t => !string.IsNullOrEmpty(t)).ToArray();
        return snapshot.Instances
            .Where(i => i.Service == name && i.Namespace == ns)
            .Where(i => tags.All(t => i.ConsulTags.Contains(t!, StringComparer.OrdinalIgnoreCase)))
            .OrderBy(i => i.InstanceId, StringComparer.Ordinal);
    }

    private void HealthService(Utf8JsonWriter w, MeshSnapshot snapshot, string name, IQueryCollection query)
    {
        var passingOnly = Passing(query);
        w.WriteStartArray();
        foreach (var instance in Instances(snapshot, name, query))
        {
            var checks = ChecksOf(instance).ToArray();
            if (passingOnly && checks.Any(c => c.Status != ConsulStatus.Passing))
            {
                continue;
            }
            w.WriteStartObject();
            w.WritePropertyName("Node");
            WriteNode(w, instance);
            w.WriteStartObject("Service");
            WriteServiceFields(w, instance, prefix: "");
            w.WriteEndObject();
            w.WriteStartArray("Checks");
            foreach (var check in checks)
            {
                WriteCheck(w, NodeOf(instance), check.Id, check.Name, check.Status, check.Notes, check.Output, ServiceId(instance), instance.Service, instance.ConsulTags.ToArray(), check.Type);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private void HealthChecks(Utf8JsonWriter w, MeshSnapshot snapshot, string name, IQueryCollection query)
    {
        w.WriteStartArray();
        foreach (var instance in Instances(snapshot, name, query))
        {
            foreach (var check in ChecksOf(instance))
            {
                WriteCheck(w, NodeOf(instance), check.Id, check.Name, check.Status, check.Notes, check.Output, ServiceId(instance), instance.Service, instance.ConsulTags.ToArray(), check.Type);
            }
        }
        w.WriteEndArray();
    }

    private static bool Passing(IQueryCollection query) =>
        query.TryGetValue("passing", out var value) && value.ToString() is not ("0" or "false" or "False");

    private static void CatalogServices(Utf8JsonWriter w, MeshSnapshot snapshot, IQueryCollection query)
    {
        var ns = Namespace(query);
        w.WriteStartObject();
        foreach (var service in snapshot.Instances.Where(i => i.Namespace == ns).GroupBy(i => i.Service).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            WriteStrings(w, service.Key, service.SelectMany(i => i.ConsulTags).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray());
        }
        w.WriteEndObject();
    }

    private void CatalogService(Utf8JsonWriter w, MeshSnapshot snapshot, string name, IQueryCollection query)
    {
        w.WriteStartArray();
        foreach (var instance in Instances(snapshot, name, query))
        {
            w.WriteStartObject();
            WriteNodeFields(w, instance, "NodeMeta");
            WriteServiceFields(w, instance, prefix: "Service");
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private void CatalogNodes(Utf8JsonWriter w, MeshSnapshot snapshot)
    {
        w.WriteStartArray();
        foreach (var node in snapshot.Instances.GroupBy(NodeOf).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            WriteNode(w, node.First());
        }
        w.WriteEndArray();
    }

    /// <summary>A Consul-registered instance's own id (without <c>@node</c>); a sidecar's instance id otherwise.</summary>
    private static string ServiceId(ServiceInstance instance) =>
        instance.Node is { } node && instance.InstanceId.EndsWith("@" + node, StringComparison.Ordinal) ? instance.InstanceId[..^(node.Length + 1)] : instance.InstanceId;

    /// <summary>The agent holding the instance (a sidecar is its own instance's node), as Consul's node.</summary>
    private static string NodeOf(ServiceInstance instance) => instance.Node ?? instance.InstanceId;

    private sealed record CheckView(string Id, string Name, string Status, string Notes, string Output, string Type);

    /// <summary>
    /// This agent's own services show their checks as they stand; every other instance one check with the
    /// registry's health, which is what its own agent or sidecar reported.
    /// </summary>
    private IEnumerable<CheckView> ChecksOf(ServiceInstance instance)
    {
        if (instance.Node == options.InstanceId && agent.Find(ServiceId(instance)) is { } local)
        {
            return agent.Checks.Where(c => c.Service.Id == local.Id)
                .Select(c => new CheckView(c.Check.CheckId, c.Check.Name, c.State.Status, c.Check.Notes, c.State.Output, c.Check.Kind.ToString().ToLowerInvariant()))
                .ToArray();
        }
        var passing = instance.Health == HealthStatus.Healthy;
        return
        [
            new CheckView($"mesh:{instance.InstanceId}", "Mesh registry health", passing ? ConsulStatus.Passing : ConsulStatus.Critical, "",
                $"{instance.Source.ToString().ToLowerInvariant()} registration, health {instance.Health.ToString().ToUpperInvariant()}", "mesh"),
        ];
    }

    private void WriteNode(Utf8JsonWriter w, ServiceInstance instance)
    {
        w.WriteStartObject();
        WriteNodeFields(w, instance, "Meta");
        w.WriteEndObject();
    }

    private void WriteNodeFields(Utf8JsonWriter w, ServiceInstance instance, string metaName)
    {
        w.WriteString("ID", "");
        w.WriteString("Node", NodeOf(instance));
        w.WriteString("Address", instance.Address);
        w.WriteString("Datacenter", instance.Region ?? Datacenter);
        w.WriteStartObject("TaggedAddresses");
        w.WriteString("lan", instance.Address);
        w.WriteString("wan", instance.Address);
        w.WriteEndObject();
        WriteMap(w, metaName, new Dictionary<string, string>());
    }

    private static void WriteServiceFields(Utf8JsonWriter w, ServiceInstance instance, string prefix)
    {
        w.WriteString(prefix + "ID", ServiceId(instance));
        w.WriteString(prefix + (prefix.Length == 0 ? "Service" : "Name"), instance.Service);
        WriteStrings(w, prefix + "Tags", instance.ConsulTags.ToArray());
        w.WriteString(prefix + "Address", instance.Address);
        WriteMap(w, prefix + "Meta", instance.Labels);
        w.WriteNumber(prefix + "Port", instance.Port);
        WriteWeights(w, prefix + "Weights");
        w.WriteBoolean(prefix + "EnableTagOverride", false);
        w.WriteString("Namespace", instance.Namespace);
        if (instance.Zone is not null || instance.Region is not null)
        {
            w.WriteStartObject(prefix + "Locality"); // Consul 1.17's field
            w.WriteString("Region", instance.Region ?? "");
            w.WriteString("Zone", instance.Zone ?? "");
            w.WriteEndObject();
        }
    }

    private static void WriteCheck(Utf8JsonWriter w, string node, string id, string name, string status, string notes, string output, string serviceId, string serviceName, IReadOnlyList<string> tags, string type)
    {
        w.WriteStartObject();
        w.WriteString("Node", node);
        w.WriteString("CheckID", id);
        w.WriteString("Name", name);
        w.WriteString("Status", status);
        w.WriteString("Notes", notes);
        w.WriteString("Output", output);
        w.WriteString("ServiceID", serviceId);
        w.WriteString("ServiceName", serviceName);
        WriteStrings(w, "ServiceTags", tags);
        w.WriteString("Type", type);
        w.WriteEndObject();
    }

    private static void WriteWeights(Utf8JsonWriter w, string name)
    {
        w.WriteStartObject(name);
        w.WriteNumber("Passing", 1);
        w.WriteNumber("Warning", 1);
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }
        w.WriteEndArray();
    }

    private static void WriteMap(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, string> map)
    {
        w.WriteStartObject(name);
        foreach (var (key, value) in map.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            w.WriteString(key, value);
        }
        w.WriteEndObject();
    }

    private static async Task Json(HttpContext context, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer);
        }
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    private static Task Ok(HttpContext context) => DiscoveryAnswers.Ok(context);

    private static Task Text(HttpContext context, int status, string text) => DiscoveryAnswers.Text(context, status, text);
}
