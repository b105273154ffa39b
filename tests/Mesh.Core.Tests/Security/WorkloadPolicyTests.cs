using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Security;

namespace Mesh.Core.Tests.Security;

/// <summary>Istio's evaluation of PeerAuthentication and AuthorizationPolicy for one workload.</summary>
public sealed class WorkloadPolicyTests
{
    private static readonly SpiffeId Productpage = new("cluster.local", "default", "productpage");
    private static readonly SpiffeId Sleep = new("cluster.local", "other", "sleep");
    private static readonly Dictionary<string, string> V1 = new() { ["version"] = "v1" };

    private static ConfigSet Load(string yaml)
    {
        var result = ConfigLoader.Load([("policy.yaml", yaml)]);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        return result.Config!;
    }

    private static WorkloadPolicy Reviews(string yaml) => WorkloadPolicy.For(Load(yaml), "default", "reviews", V1);

    private static AuthorizationDecision Call(WorkloadPolicy policy, SpiffeId? peer, string method = "GET", string path = "/books/1") =>
        policy.Authorize(new InboundRequest(peer, method, path, "reviews:9080"));

    [Fact]
    public void Without_policies_mutual_tls_is_strict_and_every_call_is_allowed()
    {
        var policy = WorkloadPolicy.For(ConfigSet.Empty, "default", "reviews", V1);
        Assert.Equal(MutualTlsMode.Strict, policy.Mode);
        Assert.Equal("default", policy.ModeSource);
        Assert.True(Call(policy, null).Allowed);
    }

    [Fact]
    public void Peer_authentication_prefers_the_workload_then_the_namespace_then_the_mesh()
    {
        const string mesh = """
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: mesh, namespace: istio-system}
            spec: {mtls: {mode: PERMISSIVE}}
            """;
        const string ns = """
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: ns, namespace: default}
            spec: {mtls: {mode: STRICT}}
            """;
        const string workload = """
            ---
            apiVersion: security.istio.io/v1beta1
            kind: PeerAuthentication
            metadata: {name: reviews-v1, namespace: default}
            spec: {selector: {matchLabels: {app: reviews, version: v1}}, mtls: {mode: PERMISSIVE}}
            """;
        Assert.Equal((MutualTlsMode.Permissive, "PeerAuthentication istio-system/mesh"), (Reviews(mesh).Mode, Reviews(mesh).ModeSource));
        Assert.Equal(MutualTlsMode.Strict, Reviews(mesh + "\n" + ns).Mode);
        Assert.Equal((MutualTlsMode.Permissive, "PeerAuthentication default/reviews-v1"), (Reviews(mesh + "\n" + ns + "\n" + workload).Mode, Reviews(mesh + "\n" + ns + "\n" + workload).ModeSource));
        // The selector does not match version v2, so v2 keeps the namespace's STRICT.
        Assert.Equal(MutualTlsMode.Strict, WorkloadPolicy.For(Load(mesh + "\n" + ns + "\n" + workload), "default", "reviews", new Dictionary<string, string> { ["version"] = "v2" }).Mode);
        // Another namespace's policy does not apply.
        Assert.Equal(MutualTlsMode.Permissive, WorkloadPolicy.For(Load(mesh + "\n" + ns), "prod", "reviews", V1).Mode);
    }

    [Fact]
    public void Unset_mode_inherits_from_the_namespace()
    {
        var policy = Reviews("""
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: ns, namespace: default}
            spec: {mtls: {mode: PERMISSIVE}}
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: reviews, namespace: default}
            spec: {selector: {matchLabels: {app: reviews}}, mtls: {mode: UNSET}}
            """);
        Assert.Equal(MutualTlsMode.Permissive, policy.Mode);
    }

    [Fact]
    public void Allow_policy_admits_only_matching_principals_paths_and_methods()
    {
        var policy = Reviews("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: reviews-viewer, namespace: default}
            spec:
              selector: {matchLabels: {app: reviews}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/default/sa/productpage"]}}]
                to: [{operation: {methods: [GET], paths: ["/books/*", "/health"]}}]
            """);
        Assert.Equal(new AuthorizationDecision(true, "default/reviews-viewer", "allowed by default/reviews-viewer"), Call(policy, Productpage));
        Assert.True(Call(policy, Productpage, path: "/health").Allowed);
        var wrongMethod = Call(policy, Productpage, method: "DELETE");
        Assert.False(wrongMethod.Allowed);
        Assert.Equal("no ALLOW policy matched (applicable: default/reviews-viewer)", wrongMethod.Reason);
        Assert.False(Call(policy, Productpage, path: "/admin").Allowed);
        Assert.False(Call(policy, Sleep).Allowed);
        Assert.False(Call(policy, null).Allowed); // plaintext has no principal
    }

    [Fact]
    public void Deny_wins_over_allow_and_is_named_in_the_reason()
    {
        var policy = Reviews("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-all, namespace: default}
            spec: {rules: [{}]}
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-admin, namespace: istio-system}
            spec:
              action: DENY
              rules:
              - from: [{source: {notNamespaces: [default]}}]
                to: [{operation: {paths: ["/admin*"]}}]
            """);
        Assert.True(Call(policy, Sleep, path: "/books/1").Allowed);
        Assert.True(Call(policy, Productpage, path: "/admin/x").Allowed);
        var denied = Call(policy, Sleep, path: "/admin/x");
        Assert.Equal((false, "istio-system/no-admin", "denied by DENY policy istio-system/no-admin"), (denied.Allowed, denied.Policy, denied.Reason));
    }

    [Fact]
    public void An_allow_policy_without_rules_allows_nothing_and_an_empty_rule_allows_everything()
    {
        Assert.False(Call(Reviews("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-nothing, namespace: default}
            spec: {}
            """), Productpage).Allowed);
        Assert.True(Call(Reviews("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-all, namespace: default}
            spec: {rules: [{}]}
            """), null).Allowed);
    }

    [Fact]
    public void Policies_for_other_workloads_or_namespaces_do_not_apply()
    {
        var policy = Reviews("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: ratings-only, namespace: default}
            spec: {selector: {matchLabels: {app: ratings}}}
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: prod-nothing, namespace: prod}
            spec: {}
            """);
        Assert.Equal(0, policy.AuthorizationPolicyCount);
        Assert.True(Call(policy, Sleep).Allowed);
    }

    [Theory]
    [InlineData("*", "cluster.local/ns/a/sa/b", true)]
    [InlineData("*", "", false)]
    [InlineData("cluster.local/ns/default/*", "cluster.local/ns/default/sa/x", true)]
    [InlineData("cluster.local/ns/default/*", "cluster.local/ns/prod/sa/x", false)]
    [InlineData("*/sa/reviews", "cluster.local/ns/prod/sa/reviews", true)]
    [InlineData("/books", "/books/1", false)]
    public void Patterns_are_exact_any_prefix_or_suffix(string pattern, string value, bool matches) =>
        Assert.Equal(matches, WorkloadPolicy.PatternMatches(pattern, value, StringComparison.Ordinal));

    [Theory]
    [InlineData("spiffe://cluster.local/ns/default/sa/reviews", true)]
    [InlineData("spiffe://example.org/ns/a/sa/b", true)]
    [InlineData("spiffe://cluster.local/ns/default", false)]
    [InlineData("https://cluster.local/ns/default/sa/reviews", false)]
    [InlineData("spiffe://cluster.local/ns//sa/reviews", false)]
    public void Spiffe_ids_parse_only_in_the_mesh_form(string text, bool valid)
    {
        Assert.Equal(valid, SpiffeId.TryParse(text, out var id));
        if (valid)
        {
            Assert.Equal(text, id!.ToString());
        }
    }
}
