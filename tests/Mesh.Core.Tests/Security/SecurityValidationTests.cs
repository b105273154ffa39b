using Mesh.Core.Config.Loading;

namespace Mesh.Core.Tests.Security;

/// <summary>Each security-policy mistake is an error at its file, line and field.</summary>
public sealed class SecurityValidationTests
{
    private static ConfigError Error(string yaml, string path)
    {
        var result = ConfigLoader.Load([("sec.yaml", yaml)]);
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors, e => e.Path == path);
        var lines = yaml.Split('\n');
        var key = path.Split('.')[^1].Split('[')[0];
        var line = Array.FindIndex(lines, l => l.Contains(key, StringComparison.Ordinal)) + 1;
        Assert.Equal(("sec.yaml", line), (error.File, error.Line));
        return error;
    }

    [Fact]
    public void Principals_with_the_spiffe_scheme_are_rejected_with_the_right_form()
    {
        var error = Error("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: p}
            spec:
              rules:
              - from:
                - source:
                    principals: ["spiffe://cluster.local/ns/default/sa/a"]
            """, "spec.rules[0].from[0].source.principals[0]");
        Assert.Contains("without 'spiffe://'", error.Message, StringComparison.Ordinal);
        Assert.Contains("spiffe://cluster.local/ns/default/sa/a", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unimplemented_actions_and_fields_are_errors()
    {
        Assert.Contains("CUSTOM is not implemented", Error("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: p}
            spec:
              action: CUSTOM
            """, "spec.action").Message, StringComparison.Ordinal);
        Assert.Contains("does not implement", Error("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: p}
            spec:
              rules:
              - when: [{key: "request.headers[x]", values: ["1"]}]
            """, "spec.rules[0].when").Message, StringComparison.Ordinal);
        Assert.Contains("DISABLE is not implemented", Error("""
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: p}
            spec:
              mtls: {mode: DISABLE}
            """, "spec.mtls.mode").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_methods_paths_and_patterns_are_errors()
    {
        Assert.Contains("'get' is not an HTTP method", Error("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: p}
            spec:
              rules:
              - to: [{operation: {methods: [get]}}]
            """, "spec.rules[0].to[0].operation.methods[0]").Message, StringComparison.Ordinal);
        Assert.Contains("starts with '/'", Error("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: p}
            spec:
              rules:
              - to: [{operation: {paths: [books]}}]
            """, "spec.rules[0].to[0].operation.paths[0]").Message, StringComparison.Ordinal);
        Assert.Contains("not a valid pattern", Error("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: p}
            spec:
              rules:
              - from: [{source: {namespaces: ["a*b"]}}]
            """, "spec.rules[0].from[0].source.namespaces[0]").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_wrong_api_group_is_an_error()
    {
        var result = ConfigLoader.Load([("sec.yaml", """
            apiVersion: networking.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: p}
            spec: {mtls: {mode: STRICT}}
            """)]);
        Assert.Contains(result.Errors, e => e.Path == "apiVersion" && e.Message.Contains("security.istio.io/v1", StringComparison.Ordinal));
    }
}
