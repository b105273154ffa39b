using Mesh.Core.Config.Loading;
using Mesh.Core.Registry;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;

namespace Mesh.Core.Tests.Routing;

/// <summary>What a matched rule does: rewrites, header changes, redirects, direct responses, faults, mirrors, weights.</summary>
public sealed class RouteActionTests
{
    private const string Subsets = """
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
          - {name: v3, labels: {version: v3}}
        """;

    private static RouteRule Rule(string http)
    {
        var yaml = $"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {"{"}name: reviews{"}"}
            spec:
              hosts: [reviews]
              http:
            {http}
            {Subsets}
            """;
        var loaded = ConfigLoader.Load([("t.yaml", yaml)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var instances = new[] { "v1", "v2", "v3" }.Select(v => new ServiceInstance
        {
            InstanceId = "r-" + v, Service = "reviews", Address = "127.0.0.1", Port = 1, Health = HealthStatus.Healthy,
            Labels = new Dictionary<string, string> { ["version"] = v },
        }).ToArray();
        var table = RouteTable.Build(new MeshSnapshot { Version = 1, Config = loaded.Config!, Instances = instances }, "default");
        Assert.True(table.TryGetHost("reviews", out var routes));
        return routes.Rules[0];
    }

    [Theory]
    [InlineData("/reviews/1", "/reviews", "/v1/reviews", "/v1/reviews/1")]
    [InlineData("/reviews/1", "/reviews/", "/", "/1")]
    [InlineData("/reviews", "/reviews", "/", "/")]
    [InlineData("/old/a/b", "/old", "/new", "/new/a/b")]
    [InlineData("/exact", null, "/replaced", "/replaced")] // matched without a prefix: the whole path is replaced
    public void RewritePath_ReplacesTheMatchedPrefixOnly(string path, string? prefix, string uri, string expected)
    {
        Assert.Equal(expected, new RewriteAction(uri, null).RewritePath(path, prefix));
    }

    [Fact]
    public void Compile_HeaderOperations_OnRuleAndDestination()
    {
        var rule = Rule("""
              - headers:
                  request:
                    set: {x-set: "1"}
                    add: {x-add: "2"}
                    remove: [x-remove]
                  response:
                    remove: [server]
                route:
                - destination: {host: reviews, subset: v1}
                  headers:
                    request: {set: {x-dest: v1}}
                    response: {add: {x-served-by: v1}}
            """);

        Assert.Equal([new KeyValuePair<string, string>("x-set", "1")], rule.RequestHeaders!.Set);
        Assert.Equal([new KeyValuePair<string, string>("x-add", "2")], rule.RequestHeaders.Add);
        Assert.Equal(["x-remove"], rule.RequestHeaders.Remove);
        Assert.Equal(["server"], rule.ResponseHeaders!.Remove);
        var destination = Assert.Single(rule.Destinations);
        Assert.Equal("x-dest", destination.RequestHeaders!.Set.Single().Key);
        Assert.Equal("x-served-by", destination.ResponseHeaders!.Add.Single().Key);
    }

    [Fact]
    public void Compile_Redirect_DefaultsTo301AndKeepsUnsetParts()
    {
        var rule = Rule("""
              - redirect: {uri: /v1/bookRatings, authority: newratings.default.svc.cluster.local}
            """);

        Assert.Equal(new RedirectAction("/v1/bookRatings", "newratings.default.svc.cluster.local", null, null, 301), rule.Redirect);
        Assert.Empty(rule.Destinations);
    }

    [Fact]
    public void Compile_DirectResponse_StringIsTextAndBytesAreDecoded()
    {
        var text = Rule("""
              - directResponse: {status: 503, body: {string: "unknown path"}}
            """).DirectResponse!;
        var bytes = Rule("""
              - directResponse: {status: 200, body: {bytes: "AAEC"}}
            """).DirectResponse!;

        Assert.Equal((503, "unknown path", true), (text.Status, System.Text.Encoding.UTF8.GetString(text.Body), text.IsText));
        Assert.Equal((200, false), (bytes.Status, bytes.IsText));
        Assert.Equal(new byte[] { 0, 1, 2 }, bytes.Body);
    }

    [Fact]
    public void Compile_TimeoutZeroMeansNone()
    {
        Assert.Null(Rule("  - {timeout: 0s, route: [{destination: {host: reviews}}]}").Timeout);
        Assert.Equal(TimeSpan.FromMilliseconds(500), Rule("  - {timeout: 0.5s, route: [{destination: {host: reviews}}]}").Timeout);
    }

    [Fact]
    public void Compile_Mirror_DefaultsToEveryRequest()
    {
        var all = Rule("  - {mirror: {host: reviews, subset: v2}, route: [{destination: {host: reviews, subset: v1}}]}").Mirror!;
        var some = Rule("  - {mirror: {host: reviews, subset: v2}, mirrorPercentage: {value: 25}, route: [{destination: {host: reviews, subset: v1}}]}").Mirror!;

        Assert.Equal(("reviews.default|v2", 100.0), (all.ClusterId, all.Percent));
        Assert.Equal(25.0, some.Percent);
    }

    [Fact]
    public void Compile_FaultWithoutPercentage_AppliesToEveryRequest()
    {
        var fault = Rule("""
              - fault:
                  delay: {fixedDelay: 7s}
                  abort: {httpStatus: 500}
                route:
                - destination: {host: reviews}
            """).Fault!;
        var random = new Random(3);

        Assert.Equal(TimeSpan.FromSeconds(7), fault.Delay);
        Assert.All(Enumerable.Range(0, 1000), _ => Assert.True(fault.ShouldDelay(random) && fault.ShouldAbort(random)));
    }

    [Theory]
    [InlineData(10.0)]
    [InlineData(50.0)]
    [InlineData(0.5)]
    public void Fault_Percentage_AppliesToThatShareOfRequests(double percent)
    {
        var fault = Rule($$$"""
              - fault:
                  abort: {httpStatus: 503, percentage: {value: {{{percent}}}}}
                route:
                - destination: {host: reviews}
            """).Fault!;
        const int n = 20_000;
        var random = new Random(11);

        var aborted = Enumerable.Range(0, n).Count(_ => fault.ShouldAbort(random));

        AssertBinomial(aborted, n, percent / 100);
        Assert.False(fault.ShouldDelay(random)); // no delay configured
    }

    [Theory]
    [InlineData(80, 20, 0)]
    [InlineData(50, 50, 0)]
    [InlineData(10, 30, 60)]
    public void Pick_WeightedSplit_FollowsTheWeights(int w1, int w2, int w3)
    {
        var rule = Rule($$"""
              - route:
                - {destination: {host: reviews, subset: v1}, weight: {{w1}}}
                - {destination: {host: reviews, subset: v2}, weight: {{w2}}}
                - {destination: {host: reviews, subset: v3}, weight: {{w3}}}
            """);
        const int n = 20_000;
        var random = new Random(42);

        var counts = Enumerable.Range(0, n).Select(_ => rule.Pick(random).Subset ?? "").CountBy(s => s).ToDictionary();

        AssertBinomial(counts.GetValueOrDefault("v1"), n, w1 / 100.0);
        AssertBinomial(counts.GetValueOrDefault("v2"), n, w2 / 100.0);
        AssertBinomial(counts.GetValueOrDefault("v3"), n, w3 / 100.0);
    }

    /// <summary>The count must lie within 4.5 standard deviations of n·p (a false failure about once in 150,000 runs).</summary>
    internal static void AssertBinomial(int count, int n, double p)
    {
        var sigma = Math.Sqrt(n * p * (1 - p));
        var tolerance = Math.Max(4.5 * sigma, 0.5);
        Assert.True(Math.Abs(count - n * p) <= tolerance, $"{count} of {n} is not within {tolerance:F1} of the expected {n * p:F0} (p = {p})");
    }
}
