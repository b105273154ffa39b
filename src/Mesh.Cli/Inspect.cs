using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Core.Config.Model;
using Mesh.Core.Failover;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;

namespace Mesh.Cli;

/// <summary>The admin API and how answers are printed (<c>-o table|json|yaml</c>).</summary>
internal sealed class Admin : IDisposable
{
    public Admin(IReadOnlyList<Uri> replicas, string? token, TimeSpan timeout, string format)
    {
        // Each call goes to the first replica that answers (a down one, or one answering 503 for lack of its store, is passed over).
        var servers = new ServerList(replicas);
        Http = new HttpClient(new FailoverHandler(servers, new SocketsHttpHandler { ConnectCallback = ServerList.ConnectAsync }))
        {
            BaseAddress = replicas[0],
            Timeout = timeout,
        };
        if (token is { Length: > 0 })
        {
            Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }
        Format = format;
    }

    public HttpClient Http { get; }
    public string Format { get; }

    /// <summary>A GET of the admin API; null (and the reason on stderr) when it failed.</summary>
    public async Task<JsonElement?> GetAsync(string path, CancellationToken cancel)
    {
        using var response = await Http.GetAsync(path, cancel);
        if (!await JoinTokenCommands.SucceededAsync(response, Console.Error))
        {
            return null;
        }
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
        return doc.RootElement.Clone();
    }

    /// <summary>Prints <paramref name="value"/> as JSON or YAML when asked for; false when a table is wanted.</summary>
    public bool PrintStructured(object value)
    {
        var element = value is JsonElement e ? e : JsonSerializer.SerializeToElement(value, MeshJson.Indented);
        switch (Format)
        {
            case "json":
                Console.WriteLine(JsonSerializer.Serialize(element, MeshJson.Indented));
                return true;
            case "yaml":
                Console.Write(new YamlDotNet.Serialization.SerializerBuilder().WithEventEmitter(next => new LiteralMultilineEmitter(next)).Build().Serialize(Plain(element)));
                return true;
            default:
                return false;
        }
    }

    private static object? Plain(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().ToDictionary(p => p.Name, p => Plain(p.Value)),
        JsonValueKind.Array => e.EnumerateArray().Select(Plain).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    public void Dispose() => Http.Dispose();
}

/// <param name="Target">What the app calls: <c>http://reviews/api/1</c>, <c>reviews/api/1</c> or <c>reviews</c>.</param>
internal sealed record ExplainRequest(string Target, string From, string[] Labels, string Method, string[] Headers);

/// <summary>meshctl's read-only verbs: proxy-status, get, describe service, explain.</summary>
internal static class Inspect
{
    public static async Task<int> ProxyStatusAsync(Admin admin, CancellationToken cancel)
    {
        if (await admin.GetAsync("/v1/proxy-status", cancel) is not { } statuses)
        {
            return 1;
        }
        if (admin.PrintStructured(statuses))
        {
            return 0;
        }
        // CURRENT is the version of the replica the sidecar watches (each replica numbers its own snapshots).
        Console.WriteLine($"{"NODE",-40} {"SERVICE",-20} {"APPLIED",8} {"CURRENT",8} {"STATUS",-12} REPLICA");
        foreach (var s in statuses.EnumerateArray())
        {
            var replica = s.TryGetProperty("replica", out var r) ? r.GetString() : "";
            Console.WriteLine($"{s.GetProperty("node").GetString(),-40} {s.GetProperty("service").GetString(),-20} {s.GetProperty("appliedVersion").GetInt64(),8} {s.GetProperty("currentVersion").GetInt64(),8} {s.GetProperty("status").GetString(),-12} {replica}");
        }
        return 0;
    }

    public static async Task<int> GetAsync(Admin admin, string what, CancellationToken cancel)
    {
        switch (what)
        {
            case "tokens":
                if (await admin.GetAsync("/v1/join-tokens", cancel) is not { } tokens)
                {
                    return 1;
                }
                if (!admin.PrintStructured(tokens))
                {
                    return await JoinTokenCommands.ListAsync(admin.Http, Console.Out, Console.Error);
                }
                return 0;
            case "config":
                if (await admin.GetAsync("/v1/config", cancel) is not { } config)
                {
                    return 1;
                }
                if (!admin.PrintStructured(config))
                {
                    var set = Config(config);
                    Console.WriteLine($"config version {config.GetProperty("version").GetInt64()}");
                    Console.WriteLine($"{"KIND",-22} {"NAMESPACE",-16} {"NAME",-30} FROM");
                    foreach (var (kind, ns, name, source) in Resources(set))
                    {
                        Console.WriteLine($"{kind,-22} {ns,-16} {name,-30} {source}");
                    }
                }
                return 0;
        }
        if (await admin.GetAsync("/v1/instances", cancel) is not { } list)
        {
            return 1;
        }
        var instances = list.Deserialize<ServiceInstance[]>(MeshJson.Options)!;
        if (what == "instances")
        {
            if (!admin.PrintStructured(list))
            {
                Console.WriteLine($"{"INSTANCE",-34} {"SERVICE",-24} {"ADDRESS",-22} {"HEALTH",-10} {"SOURCE",-8} LABELS");
                foreach (var i in instances.OrderBy(i => i.InstanceId, StringComparer.Ordinal))
                {
                    Console.WriteLine($"{i.InstanceId,-34} {i.Host,-24} {$"{i.Address}:{i.Port}",-22} {i.Health.ToString().ToUpperInvariant(),-10} {i.Source.ToString().ToLowerInvariant(),-8} {Labels(i.Labels)}");
                }
            }
            return 0;
        }
        var services = instances.GroupBy(i => i.Host).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new { service = g.Key, instances = g.Count(), healthy = g.Count(i => i.Health == HealthStatus.Healthy) }).ToArray();
        if (!admin.PrintStructured(services))
        {
            Console.WriteLine($"{"SERVICE",-30} {"HEALTHY",8} {"INSTANCES",10}");
            foreach (var s in services)
            {
                Console.WriteLine($"{s.service,-30} {s.healthy,8} {s.instances,10}");
            }
        }
        return 0;
    }

    /// <summary>Golden signals per service (or per caller → callee edge) over a window, from the control plane's <c>/v1/traffic</c>.</summary>
    public static async Task<int> StatAsync(Admin admin, string window, bool edges, CancellationToken cancel)
    {
        if (await admin.GetAsync($"/v1/traffic?window={Uri.EscapeDataString(window)}", cancel) is not { } view)
        {
            return 1;
        }
        var rows = view.GetProperty(edges ? "edges" : "services");
        if (admin.PrintStructured(rows))
        {
            return 0;
        }
        static string Rate(JsonElement e, string name) => e.GetProperty(name) is { ValueKind: JsonValueKind.Number } v ? $"{v.GetDouble() * 100:0.##}%" : "-";
        static string Ms(JsonElement e, string name) => e.GetProperty(name) is { ValueKind: JsonValueKind.Number } v ? $"{v.GetDouble():0.##}ms" : "-";
        Console.WriteLine($"calls received over the last {view.GetProperty("windowSeconds").GetInt32()}s");
        Console.WriteLine(edges
            ? $"{"FROM",-30} {"TO",-30} {"RPS",9} {"SUCCESS",8} {"P50",9} {"P99",9} {"REQUESTS",9}"
            : $"{"SERVICE",-30} {"RPS",9} {"SUCCESS",8} {"P50",9} {"P99",9} {"REQUESTS",9}");
        foreach (var r in rows.EnumerateArray())
        {
            var from = edges ? $"{r.GetProperty("source").GetString(),-30} " : "";
            Console.WriteLine($"{from}{r.GetProperty("service").GetString(),-30} {r.GetProperty("requestsPerSecond").GetDouble(),9:0.##} {Rate(r, "successRate"),8} {Ms(r, "p50Ms"),9} {Ms(r, "p99Ms"),9} {r.GetProperty("requests").GetInt64(),9}");
        }
        return 0;
    }

    public static async Task<int> DescribeServiceAsync(Admin admin, string name, CancellationToken cancel)
    {
        var (snapshot, _) = await SnapshotAsync(admin, cancel);
        if (snapshot is null)
        {
            return 1;
        }
        var (service, ns) = Split(name);
        var host = HostName.Canonical(service, ns);
        var config = snapshot.Config;
        var instances = snapshot.Instances.Where(i => i.Service == service && i.Namespace == ns).OrderBy(i => i.InstanceId, StringComparer.Ordinal).ToArray();
        var virtualServices = config.VirtualServices.Where(vs => vs.Spec.Hosts.Any(h => HostName.Canonical(h, vs.Metadata.Namespace) == host)).ToArray();
        var rule = config.DestinationRules.FirstOrDefault(dr => HostName.Canonical(dr.Spec.Host, dr.Metadata.Namespace) == host);
        var policy = WorkloadPolicy.For(config, ns, service, instances.FirstOrDefault()?.Labels ?? new Dictionary<string, string>());
        var subsets = (rule?.Spec.Subsets ?? []).Select(s => new
        {
            name = s.Name,
            labels = s.Labels,
            endpoints = instances.Where(i => s.Labels.All(l => i.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Select(i => i.InstanceId).ToArray(),
        }).ToArray();
        var view = new
        {
            service = host,
            instances = instances.Select(i => new { id = i.InstanceId, address = $"{i.Address}:{i.Port}", health = i.Health.ToString().ToUpperInvariant(), source = i.Source.ToString().ToLowerInvariant(), labels = i.Labels, zone = i.Zone, region = i.Region }),
            virtualServices = virtualServices.Select(vs => $"{vs.Metadata.Namespace}/{vs.Metadata.Name} ({vs.Source})"),
            destinationRule = rule is null ? null : $"{rule.Metadata.Namespace}/{rule.Metadata.Name} ({rule.Source})",
            subsets,
            mutualTls = $"{policy.Mode.ToString().ToUpperInvariant()} ({policy.ModeSource})",
            authorizationPolicies = policy.AuthorizationPolicyCount,
        };
        if (admin.PrintStructured(view))
        {
            return 0;
        }
        if (instances.Length == 0 && virtualServices.Length == 0 && rule is null)
        {
            Console.Error.WriteLine($"meshctl: no service '{host}': no instance is registered and no VirtualService or DestinationRule names it");
            return 1;
        }
        Console.WriteLine($"Service:           {host}");
        Console.WriteLine($"Instances:         {instances.Count(i => i.Health == HealthStatus.Healthy)} healthy of {instances.Length}");
        foreach (var i in instances)
        {
            Console.WriteLine($"  {i.InstanceId,-32} {$"{i.Address}:{i.Port}",-22} {i.Health.ToString().ToUpperInvariant(),-10} {i.Source.ToString().ToLowerInvariant(),-8} {Labels(i.Labels)}");
        }
        Console.WriteLine($"VirtualServices:   {(virtualServices.Length == 0 ? "none (all calls go to every healthy instance)" : string.Join(", ", view.virtualServices))}");
        Console.WriteLine($"DestinationRule:   {view.destinationRule ?? "none (round robin, ISTIO_MUTUAL)"}");
        if (rule?.Spec.TrafficPolicy is { } traffic)
        {
            Console.WriteLine($"  traffic policy:  {Describe(traffic)}");
        }
        foreach (var s in subsets)
        {
            Console.WriteLine($"  subset {s.name,-10} {Labels(s.labels),-20} endpoints: {(s.endpoints.Length == 0 ? "none" : string.Join(", ", s.endpoints))}");
        }
        Console.WriteLine($"Mutual TLS:        {view.mutualTls}");
        Console.WriteLine($"Authorization:     {(policy.AuthorizationPolicyCount == 0 ? "no AuthorizationPolicy applies: every mesh caller is allowed" : $"{policy.AuthorizationPolicyCount} AuthorizationPolicy rule set(s) apply")}");
        Console.WriteLine("Ejections are each caller's own: see a caller sidecar's /clusters.");
        return 0;
    }

    public static async Task<int> ExplainAsync(Admin admin, ExplainRequest request, CancellationToken cancel)
    {
        var (snapshot, trustDomain) = await SnapshotAsync(admin, cancel);
        if (snapshot is null)
        {
            return 1;
        }
        var (fromService, fromNamespace) = Split(request.From);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var label in request.Labels)
        {
            var eq = label.IndexOf('=');
            if (eq <= 0)
            {
                Console.Error.WriteLine($"meshctl: --label expects key=value, got '{label}'");
                return Mesh.Core.Hosting.Flags.UsageExitCode;
            }
            labels[label[..eq]] = label[(eq + 1)..];
        }
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var header in request.Headers)
        {
            var colon = header.IndexOf(':');
            if (colon <= 0)
            {
                Console.Error.WriteLine($"meshctl: --header expects 'name: value', got '{header}'");
                return Mesh.Core.Hosting.Flags.UsageExitCode;
            }
            headers[header[..colon].Trim()] = header[(colon + 1)..].Trim();
        }
        var target = request.Target.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? request.Target[7..] : request.Target;
        var slash = target.IndexOf('/');
        var (authority, pathAndQuery) = slash < 0 ? (target, "/") : (target[..slash], target[slash..]);
        var http = new Call(request.Method.ToUpperInvariant(), pathAndQuery, authority, headers);

        var table = RouteTable.Build(snapshot, fromNamespace, callerLabels: labels);
        Console.WriteLine($"Request:   {http.Method} http://{authority}{pathAndQuery} from {fromService}.{fromNamespace}{(labels.Count > 0 ? $" ({Labels(labels)})" : "")}");
        if (!table.TryGetHost(HostName.StripPort(authority), out var routes))
        {
            Console.WriteLine($"Host:      '{authority}' is not known to callers in namespace {fromNamespace}: no registered service, ServiceEntry or VirtualService has that name");
            Console.WriteLine("Result:    404 from the caller's sidecar (mesh_error unknown-host)");
            return 1;
        }
        Console.WriteLine($"Host:      {routes.Host} ({(routes.FromVirtualService ? "routed by a VirtualService" : "no VirtualService: every healthy instance")})");
        var rule = routes.Match(http, out _);
        if (rule is null)
        {
            Console.WriteLine("Rule:      no rule matches this request");
            Console.WriteLine("Result:    404 from the caller's sidecar (mesh_error no-route-match)");
            return 1;
        }
        var index = routes.Rules.ToList().IndexOf(rule);
        Console.WriteLine($"Rule:      http[{index}]{(rule.Name is { } n ? $" '{n}'" : "")} is the first that matches");
        foreach (var action in Actions(rule))
        {
            Console.WriteLine($"           {action}");
        }
        if (rule.Redirect is not null || rule.DirectResponse is not null)
        {
            return 0;
        }
        var total = rule.Destinations.Sum(d => d.Weight);
        foreach (var destination in rule.Destinations)
        {
            var share = total == 0 ? 0 : destination.Weight * 100.0 / total;
            Console.WriteLine($"Route:     {share:0.#}% to {destination.Host}{(destination.Subset is { } s ? $" subset {s}" : "")}");
            if (table.TryGetCluster(destination.ClusterId, out var cluster))
            {
                var healthy = cluster.HealthyEndpoints.ToArray();
                Console.WriteLine($"  endpoints: {healthy.Length} healthy of {cluster.Endpoints.Count}{(cluster.ExternalScheme is { } scheme ? $" (outside the mesh, {scheme})" : "")}: "
                    + (cluster.Endpoints.Count == 0 ? "none (503 no healthy endpoint)" : string.Join(", ", cluster.Endpoints.Select(e => $"{e.InstanceId} {e.Address}:{e.Port} {e.Health.ToString().ToUpperInvariant()}"))));
                Console.WriteLine($"  load balancing: {(cluster.ConsistentHash is not null ? "consistent hash" : cluster.LoadBalancer.ToString().ToUpperInvariant())}{(cluster.Locality is not null ? ", locality preferred" : "")}");
                if (cluster.Policy is { } policy)
                {
                    Console.WriteLine($"  policy: {Describe(policy)}");
                }
                if (cluster.ExternalScheme is null && healthy.FirstOrDefault() is { } sample)
                {
                    var inbound = WorkloadPolicy.For(snapshot.Config, sample.Namespace, sample.Service, sample.Labels);
                    var decision = inbound.Authorize(new InboundRequest(new SpiffeId(trustDomain, fromNamespace, fromService), http.Method, http.Path, routes.Host));
                    Console.WriteLine($"  authorization at {sample.Service}.{sample.Namespace}: {(decision.Allowed ? "allowed" : "DENIED (403)")}: {decision.Reason}");
                }
            }
        }
        Console.WriteLine($"Retries:   {(rule.Retries is { } r ? $"{r.Attempts} on {r.RetryOn ?? "Istio's default conditions"}" : "Istio's default: 2 on connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes")}");
        Console.WriteLine("Ejections and the retry budget are each caller's own: see the caller sidecar's /clusters and /metrics.");
        return 0;
    }

    private static IEnumerable<string> Actions(RouteRule rule)
    {
        if (rule.Fault is { } f)
        {
            yield return $"fault: delay {f.Delay} for {f.DelayPercent}%, abort {f.AbortStatus} for {f.AbortPercent}%";
        }
        if (rule.Redirect is { } r)
        {
            yield return $"redirect {r.Status} to {r.Scheme ?? "http"}://{r.Authority ?? "(same host)"}{r.Uri ?? "(same path)"}";
        }
        if (rule.DirectResponse is { } d)
        {
            yield return $"direct response {d.Status}";
        }
        if (rule.Rewrite is { } w)
        {
            yield return $"rewrite: uri {w.Uri ?? "(kept)"}, authority {w.Authority ?? "(kept)"}";
        }
        if (rule.Timeout is { } t)
        {
            yield return $"timeout {t}";
        }
        if (rule.Mirror is { } m)
        {
            yield return $"mirror {m.Percent}% to {m.Host}{(m.Subset is { } s ? $" subset {s}" : "")}";
        }
    }

    private static string Describe(TrafficPolicy policy) => string.Join("; ", new[]
    {
        policy.LoadBalancer?.Simple is { } lb ? $"loadBalancer {lb.ToString().ToUpperInvariant()}" : policy.LoadBalancer?.ConsistentHash is not null ? "consistent hash" : null,
        policy.OutlierDetection is { } o ? $"outlier detection ({o.Consecutive5xxErrors ?? o.ConsecutiveGatewayErrors} errors, eject {o.BaseEjectionTime})" : null,
        policy.ConnectionPool is not null ? "connection pool limits" : null,
        policy.Tls?.Mode is { } tls ? $"tls {tls.ToString().ToUpperInvariant()}" : null,
    }.Where(s => s is not null));

    private static async Task<(MeshSnapshot? Snapshot, string TrustDomain)> SnapshotAsync(Admin admin, CancellationToken cancel)
    {
        if (await admin.GetAsync("/v1/config", cancel) is not { } config || await admin.GetAsync("/v1/instances", cancel) is not { } instances)
        {
            return (null, "");
        }
        var trustDomain = await admin.GetAsync("/v1/ca", cancel) is { } ca ? ca.GetProperty("trustDomain").GetString()! : "cluster.local";
        return (new MeshSnapshot { Version = 1, Config = Config(config), Instances = instances.Deserialize<ServiceInstance[]>(MeshJson.Options)! }, trustDomain);
    }

    private static ConfigSet Config(JsonElement answer) => answer.GetProperty("config").Deserialize<ConfigSet>(MeshJson.Options)!;

    private static IEnumerable<(string Kind, string Namespace, string Name, string Source)> Resources(ConfigSet c) =>
        c.VirtualServices.Select(r => ("VirtualService", r.Metadata.Namespace, r.Metadata.Name, r.Source))
            .Concat(c.DestinationRules.Select(r => ("DestinationRule", r.Metadata.Namespace, r.Metadata.Name, r.Source)))
            .Concat(c.ServiceEntries.Select(r => ("ServiceEntry", r.Metadata.Namespace, r.Metadata.Name, r.Source)))
            .Concat(c.PeerAuthentications.Select(r => ("PeerAuthentication", r.Metadata.Namespace, r.Metadata.Name, r.Source)))
            .Concat(c.AuthorizationPolicies.Select(r => ("AuthorizationPolicy", r.Metadata.Namespace, r.Metadata.Name, r.Source)))
            .Concat(c.Sidecars.Select(r => ("Sidecar", r.Metadata.Namespace, r.Metadata.Name, r.Source)));

    private static (string Service, string Namespace) Split(string name)
    {
        var dot = name.IndexOf('.');
        return dot < 0 ? (name, "default") : (name[..dot], name[(dot + 1)..].Split('.')[0]);
    }

    private static string Labels(IReadOnlyDictionary<string, string> labels) =>
        string.Join(",", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Value.Length == 0 ? l.Key : $"{l.Key}={l.Value}"));

    private readonly record struct Call(string Method, string PathAndQuery, string Authority, Dictionary<string, string> Headers) : IRouteRequest
    {
        public string Path => PathAndQuery.Split('?')[0];

        public string? GetHeader(string name) => Headers.GetValueOrDefault(name);

        public string? GetQuery(string name) =>
            PathAndQuery.Contains('?')
                ? PathAndQuery[(PathAndQuery.IndexOf('?') + 1)..].Split('&').Select(p => p.Split('=', 2)).FirstOrDefault(p => Uri.UnescapeDataString(p[0]) == name) is { } pair
                    ? Uri.UnescapeDataString(pair.ElementAtOrDefault(1) ?? "")
                    : null
                : null;
    }
}
