using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;

namespace Mesh.Core.Tests.Config;

public sealed class ConfigLoaderTests
{
    private static ConfigLoadResult Load(string yaml) => ConfigLoader.Load([("reviews.yaml", yaml)]);

    private static ConfigError SingleError(string yaml)
    {
        var result = Load(yaml);
        Assert.False(result.Succeeded);
        return Assert.Single(result.Errors);
    }

    [Fact]
    public void Load_MultiDocumentIstioYaml_ReadsEveryResource()
    {
        var result = Load("""
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata:
              name: reviews
              namespace: default
            spec:
              hosts:
              - reviews
              http:
              - timeout: 1.5s
                route:
                - destination:
                    host: reviews
                    subset: v1
            ---
            apiVersion: networking.istio.io/v1alpha3
            kind: DestinationRule
            metadata:
              name: reviews
            spec:
              host: reviews
              trafficPolicy:
                loadBalancer:
                  simple: LEAST_REQUEST
              subsets:
              - name: v1
                labels:
                  version: v1
            ---
            """);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var vs = Assert.Single(result.Config!.VirtualServices);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), vs.Spec.Http[0].Timeout);
        Assert.Equal("reviews.yaml", vs.Source);
        var dr = Assert.Single(result.Config.DestinationRules);
        Assert.Equal(SimpleLoadBalancer.LeastRequest, dr.Spec.TrafficPolicy!.LoadBalancer!.Simple);
    }

    [Fact]
    public void Load_SyntaxError_ReportsFileLineAndReason()
    {
        var error = SingleError("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x\nspec: {}\n");

        Assert.Equal("reviews.yaml", error.File);
        Assert.Equal(3, error.Line); // the line with the unclosed '{'

        Assert.StartsWith("YAML syntax error", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownField_NamesFieldPathLineAndColumn()
    {
        var error = SingleError("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: r}
            spec:
              hosts: [reviews]
              http:
              - route:
                - destination: {host: reviews}
                  wieght: 100
            """);

        Assert.Equal((9, 7), (error.Line, error.Column));
        Assert.Equal("spec.http[0].route[0].wieght", error.Path);
        Assert.Contains("unknown field 'wieght'", error.Message, StringComparison.Ordinal);
        Assert.Equal("reviews.yaml:9:7: spec.http[0].route[0].wieght: " + error.Message, error.ToString());
    }

    [Fact]
    public void Load_IstioFieldMeshDoesNotImplement_IsRejectedNotIgnored()
    {
        var error = SingleError("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: r}
            spec:
              hosts: [reviews]
              http:
              - corsPolicy: {allowOrigins: [{exact: https://example.com}]}
                route:
                - destination: {host: reviews}
            """);

        Assert.Equal("spec.http[0].corsPolicy", error.Path);
        Assert.Contains("does not implement", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("timeout: soon", "spec.http[0].timeout", "expected a duration")]
    [InlineData("retries: {attempts: three}", "spec.http[0].retries.attempts", "expected an integer, got 'three'")]
    [InlineData("match: {uri: {prefix: /}}", "spec.http[0].match", "expected a list, got a map")]
    public void Load_WrongType_SaysWhatWasExpected(string line, string path, string message)
    {
        var error = SingleError($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {"{"}name: r{"}"}
            spec:
              hosts: [reviews]
              http:
              - {line}
                route:
                - destination: {"{"}host: reviews{"}"}
            """);

        Assert.Equal(path, error.Path);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(7, error.Line);
    }

    [Fact]
    public void Load_SeveralProblems_ReportsEveryOneNotJustTheFirst()
    {
        var result = Load("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: r}
            spec:
              hosts: [reviews]
              http:
              - route:
                - destination: {host: reviews, subset: v9}
                  weight: 70
                - destination: {host: reviews}
                  weight: 20
                  color: blue
            """);

        var messages = result.Errors.Select(e => e.ToString()).ToArray();
        Assert.Equal(3, messages.Length);
        Assert.Contains(messages, m => m.Contains("unknown field 'color'", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("subset 'v9'", StringComparison.Ordinal) && m.StartsWith("reviews.yaml:8:", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("sum to 90", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_UnknownKindAndBadApiVersion_AreErrors()
    {
        var result = Load("""
            apiVersion: networking.istio.io/v1
            kind: EnvoyFilter
            metadata: {name: g}
            spec: {}
            ---
            apiVersion: networking.istio.io/v2
            kind: VirtualService
            metadata: {name: r}
            spec:
              hosts: [reviews]
            """);

        var messages = result.Errors.Select(e => e.Message).ToArray();
        Assert.Contains(messages, m => m.Contains("unknown kind 'EnvoyFilter'", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("apiVersion 'networking.istio.io/v2' is not valid", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_DuplicateName_PointsAtFirstDefinition()
    {
        const string doc = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec: {host: reviews}\n";
        var error = SingleError(doc + "---\n" + doc);

        Assert.Contains("duplicate DestinationRule 'reviews'", error.Message, StringComparison.Ordinal);
        Assert.Contains("reviews.yaml:3", error.Message, StringComparison.Ordinal);
        Assert.Equal(8, error.Line);
    }

    [Theory]
    [InlineData("10s", 10_000)]
    [InlineData("0.5s", 500)]
    [InlineData("100ms", 100)]
    [InlineData("1m", 60_000)]
    [InlineData("1h30m", 5_400_000)]
    public void Durations_IstioForms_Parse(string text, double milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(milliseconds, value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("10")]
    [InlineData("ten s")]
    [InlineData("5d")]
    public void Durations_Malformed_DoNotParse(string text) => Assert.False(Durations.TryParse(text, out _));
}
