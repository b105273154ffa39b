using Mesh.Core.Config.Loading;

namespace Mesh.Core.Tests.Config;

/// <summary>The ExportedServices kind: what is read, and every error at its field's line, all at once.</summary>
public sealed class ExportedServicesValidationTests
{
    private const string File = "exports.yaml";

    private static ConfigLoadResult Load(string yaml) => ConfigLoader.Load([(File, yaml)]);

    private static int LineOf(string yaml, string marker)
    {
        var lines = yaml.Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains(marker, StringComparison.Ordinal));
        Assert.True(line >= 0, $"marker '{marker}' not in the YAML");
        return line + 1;
    }

    [Fact]
    public void Load_ExportedServices_ReadsServicesNamespacesAndConsumers()
    {
        var result = Load("""
            apiVersion: peering.mesh.dev/v1alpha1
            kind: ExportedServices
            metadata: {name: to-eu, namespace: shop}
            spec:
              services:
              - name: ratings
                consumers: [{peer: eu-west}, {peer: us-east}]
              - name: reviews
                namespace: books
                consumers: [{peer: eu-west}]
            """);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var spec = Assert.Single(result.Config!.ExportedServices).Spec;
        Assert.Equal(["ratings", "reviews"], spec.Services.Select(s => s.Name));
        Assert.Null(spec.Services[0].Namespace);
        Assert.Equal("books", spec.Services[1].Namespace);
        Assert.Equal(["eu-west", "us-east"], spec.Services[0].Consumers.Select(c => c.Peer));
    }

    [Fact]
    public void Load_BadExportedServices_ReportsEveryErrorWithItsLine()
    {
        var yaml = """
            apiVersion: peering.mesh.dev/v1alpha1
            kind: ExportedServices
            metadata: {name: bad}
            spec:
              services:
              - name: ratings.default
                consumers: [{peer: Bad_Name}]
              - name: reviews
                consumers: []
              - name: details
                consumers: [{peer: eu}, {peer: eu}]
                color: blue
            """;

        var result = Load(yaml);

        Assert.False(result.Succeeded);
        var errors = result.Errors.ToArray();
        Assert.Contains(errors, e => e.Path == "spec.services[0].name" && e.Line == LineOf(yaml, "ratings.default") && e.Message.Contains("without namespace", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "spec.services[0].consumers[0].peer" && e.Line == LineOf(yaml, "Bad_Name") && e.Message.Contains("DNS label", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "spec.services[1].consumers" && e.Message.Contains("at least one consumer", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "spec.services[2].consumers[1].peer" && e.Message.Contains("already exported to peer 'eu' at exports.yaml:11", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Line == LineOf(yaml, "color") && e.Message.Contains("unknown field 'color'", StringComparison.Ordinal));
        Assert.All(errors, e => Assert.Equal(File, e.File));
    }

    [Theory]
    [InlineData("networking.istio.io/v1")]
    [InlineData("peering.mesh.dev/v1")]
    public void Load_ExportedServicesWithAnotherApiVersion_SaysWhichOneToUse(string apiVersion)
    {
        var result = Load($"""
            apiVersion: {apiVersion}
            kind: ExportedServices
            metadata: {"{"}name: x{"}"}
            spec:
              services: [{"{"}name: ratings, consumers: [{"{"}peer: eu{"}"}]{"}"}]
            """);

        var error = Assert.Single(result.Errors);
        Assert.Equal("apiVersion", error.Path);
        Assert.Contains("use one of peering.mesh.dev/v1alpha1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EmptyExportedServices_IsAnError()
    {
        var result = Load("""
            apiVersion: peering.mesh.dev/v1alpha1
            kind: ExportedServices
            metadata: {name: none}
            spec: {}
            """);

        Assert.Contains(result.Errors, e => e.Path == "spec.services" && e.Line == 4);
    }
}
