using BenchmarkDotNet.Attributes;
using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;
using Microsoft.AspNetCore.Http;

namespace Mesh.Bench.Routing;

/// <summary>
/// What the sidecar pays per request to find the rule among 100 compiled VirtualService rules: a
/// request that matches the first rule, one that matches the last (every rule tried), one that
/// matches none, and the same with regex rules. The request is a real ASP.NET Core HttpContext read
/// the way the sidecar reads it.
/// </summary>
[MemoryDiagnoser]
public class RouteMatchBenchmarks
{
    private const int RuleCount = 100;
    private HostRoutes _prefixRoutes = null!;
    private HostRoutes _regexRoutes = null!;
    private HttpContext _first = null!;
    private HttpContext _last = null!;
    private HttpContext _none = null!;

    [GlobalSetup]
    public void Setup()
    {
        _prefixRoutes = Build(i => $"""
                  - uri: {"{"}prefix: /api/v{i}/{"}"}
                    headers: {"{"}x-tenant: {"{"}exact: tenant-{i}{"}"}{"}"}
            """);
        _regexRoutes = Build(i => $"""
                  - uri: {"{"}regex: '/api/v{i}/[a-z]+/[0-9]+'{"}"}
                    headers: {"{"}x-tenant: {"{"}regex: 'tenant-{i}(-[a-z]+)?'{"}"}{"}"}
            """);
        _first = Request("/api/v0/books/17", "tenant-0");
        _last = Request($"/api/v{RuleCount - 1}/books/17", $"tenant-{RuleCount - 1}");
        _none = Request("/other/books/17", "tenant-x");
    }

    [Benchmark(Baseline = true)]
    public RouteRule? Prefix_FirstRule() => _prefixRoutes.Match(new ContextRequest(_first));

    [Benchmark]
    public RouteRule? Prefix_LastOf100() => _prefixRoutes.Match(new ContextRequest(_last));

    [Benchmark]
    public RouteRule? Prefix_NoneOf100() => _prefixRoutes.Match(new ContextRequest(_none));

    [Benchmark]
    public RouteRule? Regex_LastOf100() => _regexRoutes.Match(new ContextRequest(_last));

    [Benchmark]
    public RouteRule? Regex_NoneOf100() => _regexRoutes.Match(new ContextRequest(_none));

    private static HostRoutes Build(Func<int, string> match)
    {
        var rules = string.Join("\n", Enumerable.Range(0, RuleCount).Select(i => $"""
              - name: rule-{i}
                match:
            {match(i)}
                route:
                - destination: {"{"}host: reviews{"}"}
            """));
        var yaml = $"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {"{"}name: reviews{"}"}
            spec:
              hosts: [reviews]
              http:
            {rules}
            """;
        var loaded = ConfigLoader.Load([("bench.yaml", yaml)]);
        if (!loaded.Succeeded)
        {
            throw new InvalidOperationException(string.Join("\n", loaded.Problems));
        }
        var instance = new ServiceInstance { InstanceId = "r1", Service = "reviews", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy };
        var table = RouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = [instance] }, "default");
        return table.TryGetHost("reviews", out var routes) ? routes : throw new InvalidOperationException("no routes");
    }

    private static DefaultHttpContext Request(string path, string tenant)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = path;
        context.Request.Host = new HostString("reviews");
        context.Request.Headers["x-tenant"] = tenant;
        context.Request.Headers["user-agent"] = "bench";
        context.Request.Headers.Accept = "*/*";
        return context;
    }

    /// <summary>Reads the request as the sidecar's own route request does (a struct, no allocation).</summary>
    private readonly struct ContextRequest(HttpContext context) : IRouteRequest
    {
        public string Method => context.Request.Method;
        public string Path => context.Request.Path.Value is { Length: > 0 } path ? path : "/";
        public string Authority => context.Request.Host.Value ?? "";
        public string? GetHeader(string name) => context.Request.Headers.TryGetValue(name, out var value) ? value.ToString() : null;
        public string? GetQuery(string name) => context.Request.Query.TryGetValue(name, out var value) ? value.ToString() : null;
    }
}
