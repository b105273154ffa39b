using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;

namespace Mesh.Core.Tests.Config;

/// <summary>The Sidecar kind: what is read, and each error at its field's line and column, all at once.</summary>
public sealed class SidecarValidationTests
{
    private const string File = "sidecar.yaml";

    private static ConfigLoadResult Load(string yaml) => ConfigLoader.Load([(File, yaml)]);

    private static string Sidecar(string name, string spec, string ns = "default") => $"""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata: {"{"}name: {name}, namespace: {ns}{"}"}
        spec:
        {spec}
        """;

    private static (int Line, int Column) Marker(string yaml, string marker)
    {
        var lines = yaml.Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains(marker, StringComparison.Ordinal));
        Assert.True(line >= 0, $"marker '{marker}' not in the YAML");
        return (line + 1, lines[line].IndexOf(marker, StringComparison.Ordinal) + 1);
    }

    [Theory]
    [InlineData("networking.istio.io/v1")]
    [InlineData("networking.istio.io/v1beta1")]
    [InlineData("networking.istio.io/v1alpha3")]
    public void Load_IstioDocsSidecar_ReadsEveryField(string apiVersion)
    {
        var yaml = $"""
            apiVersion: {apiVersion}
            kind: Sidecar
            metadata:
              name: ratings
              namespace: prod-us1
            spec:
              workloadSelector:
                labels:
                  app: ratings
              egress:
              - hosts:
                - "./*"
                - "istio-system/*"
                - "*/reviews.default.svc.cluster.local"
              outboundTrafficPolicy:
                mode: REGISTRY_ONLY
            """;

        var result = Load(yaml);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var sidecar = Assert.Single(result.Config!.Sidecars);
        Assert.Equal(("prod-us1", "ratings"), (sidecar.Metadata.Namespace, sidecar.Metadata.Name));
        Assert.Equal("ratings", sidecar.Spec.WorkloadSelector!.Labels["app"]);
        Assert.Equal(["./*", "istio-system/*", "*/reviews.default.svc.cluster.local"], Assert.Single(sidecar.Spec.Egress).Hosts);
        Assert.Equal(OutboundTrafficMode.RegistryOnly, sidecar.Spec.OutboundTrafficPolicy!.Mode);
    }

    [Fact]
    public void Load_AllowAnyWithoutEgress_IsValid()
    {
        var result = Load(Sidecar("default", "  outboundTrafficPolicy: {mode: ALLOW_ANY}", ns: "istio-system"));

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.Equal(OutboundTrafficMode.AllowAny, result.Config!.Sidecars[0].Spec.OutboundTrafficPolicy!.Mode);
    }

    [Fact]
    public void Load_BadHostsAndFields_ReportsEveryErrorAtItsPosition()
    {
        var yaml = Sidecar("bad", """
              workloadSelector: {labels: {}}
              egress:
              - hosts:
                - reviews
                - "prod/"
                - "~/reviews.default.svc.cluster.local"
                - "*/ratings"
                - "Bad_NS/*"
                - "./bad_host!"
                - "./*.example.com"
              outboundTrafficPolicy: {mode: SOMETIMES}
            """);

        var result = Load(yaml);

        Assert.False(result.Succeeded);
        var errors = result.Errors.ToDictionary(e => e.Path);
        Assert.Contains("must be namespace/dnsName", errors["spec.egress[0].hosts[0]"].Message);
        Assert.Equal(Marker(yaml, "- reviews"), (errors["spec.egress[0].hosts[0]"].Line, errors["spec.egress[0].hosts[0]"].Column - 2));
        Assert.Contains("both the namespace and the dnsName", errors["spec.egress[0].hosts[1]"].Message);
        Assert.Contains("'~' selects no namespace", errors["spec.egress[0].hosts[2]"].Message);
        Assert.Contains("give the full name (ratings.<namespace>.svc.cluster.local)", errors["spec.egress[0].hosts[3]"].Message);
        Assert.Contains("the namespace must be", errors["spec.egress[0].hosts[4]"].Message);
        Assert.Contains("the dnsName must be", errors["spec.egress[0].hosts[5]"].Message);
        Assert.DoesNotContain("spec.egress[0].hosts[6]", errors.Keys);
        Assert.Contains("at least one label", errors["spec.workloadSelector.labels"].Message);
        Assert.Contains("REGISTRY_ONLY", errors["spec.outboundTrafficPolicy.mode"].Message);
        Assert.Equal(Marker(yaml, "SOMETIMES").Line, errors["spec.outboundTrafficPolicy.mode"].Line);
        Assert.Equal(8, result.Errors.Count());
    }

    [Theory]
    [InlineData("  ingress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:8080", "spec.ingress", "inbound port forwards every call to --app-port")]
    [InlineData("  egress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n    hosts: [./*]", "spec.egress[0].port", "one outbound listener")]
    [InlineData("  egress:\n  - hosts: [./*]\n    captureMode: NONE", "spec.egress[0].captureMode", "does not implement")]
    [InlineData("  outboundTrafficPolicy:\n    mode: REGISTRY_ONLY\n    egressProxy: {host: egress.istio-system.svc.cluster.local}", "spec.outboundTrafficPolicy.egressProxy", "does not implement")]
    [InlineData("  inboundConnectionPool:\n    http: {http1MaxPendingRequests: 10}", "spec.inboundConnectionPool", "not implemented by Mesh")]
    [InlineData("  egress:\n  - hosts: [./*]\n  - hosts: [istio-system/*]", "spec.egress", "one egress entry")]
    [InlineData("  egress:\n  - hosts: []", "spec.egress[0].hosts", "at least one host")]
    [InlineData("  color: blue", "spec.color", "unknown field 'color'")]
    public void Load_NotImplementedOrWrong_IsAnErrorThatSaysWhy(string spec, string path, string message)
    {
        var result = Load(Sidecar("s", spec));

        var error = Assert.Single(result.Errors);
        Assert.Equal(path, error.Path);
        Assert.Contains(message, error.Message);
        Assert.Null(result.Config);
    }

    [Fact]
    public void Load_TwoNamespaceWideSidecars_WarnsThatTheSecondNeverApplies()
    {
        var yaml = Sidecar("first", "  egress: [{hosts: [./*]}]") + "\n---\n" + Sidecar("second", "  egress: [{hosts: [istio-system/*]}]");

        var result = Load(yaml);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var warning = Assert.Single(result.Problems);
        Assert.Equal(ConfigSeverity.Warning, warning.Severity);
        Assert.Contains("already has a Sidecar without workloadSelector ('first' at sidecar.yaml:3)", warning.Message);
    }

    [Fact]
    public void Load_OverlappingSelectors_WarnsTheFirstWins_DisjointOnesDoNot()
    {
        var yaml = Sidecar("by-app", "  workloadSelector: {labels: {app: reviews}}\n  egress: [{hosts: [./*]}]")
            + "\n---\n" + Sidecar("by-version", "  workloadSelector: {labels: {version: v2}}\n  egress: [{hosts: [./*]}]")
            + "\n---\n" + Sidecar("other-app", "  workloadSelector: {labels: {app: ratings}}\n  egress: [{hosts: [./*]}]");

        var result = Load(yaml);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        // by-version overlaps by-app (reviews at v2); other-app contradicts by-app on app, but overlaps by-version.
        var warnings = result.Problems.Select(p => p.Message).ToArray();
        Assert.Equal(2, warnings.Length);
        Assert.Contains(warnings, w => w.Contains("app=reviews,version=v2 is also selected by Sidecar 'by-app'"));
        Assert.Contains(warnings, w => w.Contains("version=v2,app=ratings is also selected by Sidecar 'by-version'"));
    }

    [Fact]
    public void Load_DuplicateName_IsAnError()
    {
        var result = ConfigLoader.Load([("a.yaml", Sidecar("s", "  egress: [{hosts: [./*]}]")), ("b.yaml", Sidecar("s", "  egress: [{hosts: [./*]}]"))]);

        Assert.Contains(result.Errors, e => e.File == "b.yaml" && e.Message.Contains("duplicate Sidecar 's' in namespace 'default'"));
    }
}
