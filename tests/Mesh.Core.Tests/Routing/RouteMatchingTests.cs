using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Routing;

/// <summary>Table tests: one Istio match block against requests that must and must not match it.</summary>
public sealed class RouteMatchingTests
{
    private static HostRoutes Routes(string match)
    {
        var yaml = $$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
              - name: matched
                match:
                - {{match}}
                route:
                - destination: {host: reviews}
              - name: fallback
                route:
                - destination: {host: reviews}
            """;
        var loaded = ConfigLoader.Load([("t.yaml", yaml)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var instance = new ServiceInstance { InstanceId = "r1", Service = "reviews", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy };
        var table = RouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = [instance] }, "default");
        Assert.True(table.TryGetHost("reviews", out var routes));
        return routes;
    }

    private static Dictionary<string, string> H(params string[] pairs) =>
        pairs.Chunk(2).ToDictionary(p => p[0], p => p[1]);

    public static TheoryData<string, TestRequest, bool> Cases => new()
    {
        // uri
        { "uri: {exact: /productpage}", new TestRequest("/productpage"), true },
        { "uri: {exact: /productpage}", new TestRequest("/productpage/"), false },
        { "uri: {exact: /productpage}", new TestRequest("/ProductPage"), false },
        { "{uri: {exact: /productpage}, ignoreUriCase: true}", new TestRequest("/ProductPage"), true },
        { "uri: {prefix: /api/v1}", new TestRequest("/api/v1/products"), true },
        { "uri: {prefix: /api/v1}", new TestRequest("/api/v2/products"), false },
        { "{uri: {prefix: /API}, ignoreUriCase: true}", new TestRequest("/api/x"), true },
        { "uri: {regex: '/reviews/[0-9]+'}", new TestRequest("/reviews/42"), true },
        { "uri: {regex: '/reviews/[0-9]+'}", new TestRequest("/reviews/42/x"), false }, // regex is anchored, as RE2 full match
        { "uri: {regex: '/reviews/[0-9]+'}", new TestRequest("/x/reviews/42"), false },
        // method and authority
        { "method: {exact: POST}", new TestRequest("/", "POST"), true },
        { "method: {exact: POST}", new TestRequest("/", "GET"), false },
        { "method: {regex: 'PUT|PATCH'}", new TestRequest("/", "PATCH"), true },
        { "authority: {exact: reviews:9080}", new TestRequest("/", Authority: "reviews:9080"), true },
        { "authority: {prefix: reviews}", new TestRequest("/", Authority: "ratings"), false },
        // headers: exact, prefix, regex, presence, case-insensitive names
        { "headers: {end-user: {exact: jason}}", new TestRequest("/", Headers: H("end-user", "jason")), true },
        { "headers: {end-user: {exact: jason}}", new TestRequest("/", Headers: H("end-user", "Jason")), false },
        { "headers: {end-user: {exact: jason}}", new TestRequest("/"), false },
        { "headers: {End-User: {exact: jason}}", new TestRequest("/", Headers: H("end-user", "jason")), true },
        { "headers: {user-agent: {prefix: Mozilla}}", new TestRequest("/", Headers: H("user-agent", "Mozilla/5.0")), true },
        { "headers: {cookie: {regex: '^(.*?;)?(user=jason)(;.*)?$'}}", new TestRequest("/", Headers: H("cookie", "a=b; user=jason")), false },
        { "headers: {cookie: {regex: '^(.*?;)?(user=jason)(;.*)?$'}}", new TestRequest("/", Headers: H("cookie", "a=b;user=jason")), true },
        { "headers: {x-canary: {}}", new TestRequest("/", Headers: H("x-canary", "")), true },
        { "headers: {x-canary: {}}", new TestRequest("/"), false },
        { "headers: {x-a: {exact: '1'}, x-b: {exact: '2'}}", new TestRequest("/", Headers: H("x-a", "1", "x-b", "2")), true }, // AND inside a block
        { "headers: {x-a: {exact: '1'}, x-b: {exact: '2'}}", new TestRequest("/", Headers: H("x-a", "1")), false },
        // withoutHeaders: matches when the condition does NOT hold
        { "withoutHeaders: {x-debug: {exact: '1'}}", new TestRequest("/"), true },
        { "withoutHeaders: {x-debug: {exact: '1'}}", new TestRequest("/", Headers: H("x-debug", "1")), false },
        { "withoutHeaders: {x-debug: {}}", new TestRequest("/", Headers: H("x-debug", "0")), false },
        // queryParams: exact, regex, presence
        { "queryParams: {version: {exact: v2}}", new TestRequest("/", Query: new() { ["version"] = "v2" }), true },
        { "queryParams: {version: {exact: v2}}", new TestRequest("/", Query: new() { ["version"] = "v3" }), false },
        { "queryParams: {id: {regex: '[0-9]+'}}", new TestRequest("/", Query: new() { ["id"] = "17" }), true },
        { "queryParams: {debug: {}}", new TestRequest("/", Query: new() { ["debug"] = "" }), true },
        { "queryParams: {debug: {}}", new TestRequest("/"), false },
        // several conditions in one block are AND'ed
        { "{uri: {prefix: /api}, method: {exact: GET}}", new TestRequest("/api", "POST"), false },
        { "{uri: {prefix: /api}, method: {exact: GET}}", new TestRequest("/api", "GET"), true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Match_EachKind_MatchesExactlyWhenIstioWould(string match, TestRequest request, bool matches)
    {
        var rule = Routes(match).Match(request);

        Assert.Equal(matches ? "matched" : "fallback", rule!.Name);
    }

    [Fact]
    public void Match_SeveralBlocks_AreOredAndTheMatchingBlockIsReported()
    {
        const string yaml = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
              - match:
                - uri: {prefix: /a}
                - uri: {prefix: /b}
                route:
                - destination: {host: reviews}
            """;
        var loaded = ConfigLoader.Load([("t.yaml", yaml)]);
        var table = RouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config! }, "default");
        Assert.True(table.TryGetHost("reviews", out var routes));

        Assert.NotNull(routes.Match(new TestRequest("/a/1"), out var first));
        Assert.Equal("/a", first!.UriPrefix);
        Assert.NotNull(routes.Match(new TestRequest("/b/1"), out var second));
        Assert.Equal("/b", second!.UriPrefix);
        Assert.Null(routes.Match(new TestRequest("/c")));
    }

    [Fact]
    public void Match_HostileRegex_RunsOnTheLinearTimeEngineAndStillAnswers()
    {
        // (a+)+$ makes a backtracking engine take exponential time on "aaaa...!"; the non-backtracking
        // engine is linear in the input, so this returns (a backtracking engine would not, in any test budget).
        var routes = Routes("uri: {regex: '/(a+)+'}");
        var regex = StringMatcher.CompileRegex("/(a+)+");

        Assert.True(regex.Options.HasFlag(System.Text.RegularExpressions.RegexOptions.NonBacktracking));
        Assert.Equal(StringMatcher.RegexTimeout, regex.MatchTimeout);
        Assert.Equal("fallback", routes.Match(new TestRequest("/" + new string('a', 50_000) + "!"))!.Name);
        Assert.Equal("matched", routes.Match(new TestRequest("/" + new string('a', 50_000)))!.Name);
    }

    [Theory]
    [InlineData("(?=x)", typeof(NotSupportedException))] // lookahead: not in RE2 either
    [InlineData("(a)\\1", typeof(NotSupportedException))] // backreference
    [InlineData("[a-", typeof(ArgumentException))]
    public void CompileRegex_ConstructsTheLinearEngineCannotRun_AreRefused(string pattern, Type expected)
    {
        var error = Record.Exception(() => StringMatcher.CompileRegex(pattern));

        Assert.IsAssignableFrom(expected, error);
    }
}
