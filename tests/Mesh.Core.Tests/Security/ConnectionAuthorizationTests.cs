using Mesh.Core.Config.Loading;
using Mesh.Core.Security;

namespace Mesh.Core.Tests.Security;

/// <summary>AuthorizationPolicy on opaque TCP connections, as Istio judges them: only the caller's identity is known.</summary>
public sealed class ConnectionAuthorizationTests
{
    private static readonly SpiffeId Sleep = new("cluster.local", "default", "sleep");
    private static readonly SpiffeId Other = new("cluster.local", "default", "other");

    private static WorkloadPolicy Echo(string rules, string action = "ALLOW")
    {
        var result = ConfigLoader.Load([("policy.yaml", $"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p}}\nspec:\n  action: {action}\n  rules:\n{rules}")]);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        return WorkloadPolicy.For(result.Config!, "default", "tcp-echo", new Dictionary<string, string>());
    }

    [Fact]
    public void AuthorizeConnection_AllowRuleOnPrincipals_AdmitsOnlyThatCaller()
    {
        var policy = Echo("  - from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]");

        Assert.True(policy.AuthorizeConnection(Sleep).Allowed);
        Assert.False(policy.AuthorizeConnection(Other).Allowed);
        Assert.False(policy.AuthorizeConnection(null).Allowed);
    }

    [Fact]
    public void AuthorizeConnection_AllowRuleWithHttpOnlyFields_NeverMatchesTcp()
    {
        var policy = Echo("  - from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]\n    to: [{operation: {methods: [GET]}}]");

        var decision = policy.AuthorizeConnection(Sleep);

        Assert.False(decision.Allowed);
        Assert.Contains("rules with paths, methods or hosts never match TCP", decision.Reason, StringComparison.Ordinal);
        // The same rule still admits the HTTP call it describes.
        Assert.True(policy.Authorize(new InboundRequest(Sleep, "GET", "/", "tcp-echo")).Allowed);
    }

    [Fact]
    public void AuthorizeConnection_DenyRuleWithHttpOnlyFields_DeniesOnItsOtherConditions()
    {
        var policy = Echo("  - from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]\n    to: [{operation: {paths: [/admin]}}]", "DENY");

        Assert.Equal((false, "default/p"), (policy.AuthorizeConnection(Sleep).Allowed, policy.AuthorizeConnection(Sleep).Policy));
        Assert.True(policy.AuthorizeConnection(Other).Allowed);
        // HTTP still denies only the path named.
        Assert.True(policy.Authorize(new InboundRequest(Sleep, "GET", "/books", "tcp-echo")).Allowed);
    }
}
