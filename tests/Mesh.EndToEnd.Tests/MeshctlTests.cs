using System.Text.Json;
using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>meshctl's inspecting verbs against a real control plane: get, describe service, and explain
/// on cases whose answers the routing tests prove with real calls (header match, sourceLabels, authorization).</summary>
public sealed class MeshctlTests
{
    [Fact]
    public async Task GetDescribeAndExplain_TellWhatTheMeshWouldDo()
    {
        await using var mesh = new MeshCluster();
        await mesh.RunAsync(async () =>
        {
            var cp = await mesh.StartControlPlaneAsync();
            await mesh.StartServiceAsync("reviews", "reviews-v1", "--label", "version=v1");
            await mesh.StartServiceAsync("reviews", "reviews-v2", "--label", "version=v2");
            await mesh.StartServiceAsync("ratings", "ratings-1");
            await mesh.ApplyConfigAsync("routing.yaml", """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: reviews}
                spec:
                  hosts: [reviews]
                  http:
                  - name: jason
                    match: [{headers: {end-user: {exact: jason}}}]
                    route: [{destination: {host: reviews, subset: v2}}]
                  - name: canary-callers
                    match: [{sourceLabels: {version: v2}}]
                    route: [{destination: {host: reviews, subset: v2}}]
                  - name: everyone
                    timeout: 2s
                    route:
                    - {destination: {host: reviews, subset: v1}, weight: 90}
                    - {destination: {host: reviews, subset: v2}, weight: 10}
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: reviews}
                spec:
                  host: reviews
                  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: 30s}}
                  subsets:
                  - {name: v1, labels: {version: v1}}
                  - {name: v2, labels: {version: v2}}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: ratings-from-productpage}
                spec:
                  action: ALLOW
                  rules:
                  - from: [{source: {principals: [cluster.local/ns/default/sa/productpage]}}]
                """);
            string[] Admin(params string[] args) => ["--admin", cp.Admin.ToString(), "--token-file", Path.Combine(cp.DataDir, "admin-token"), .. args];

            var (code, output) = await MeshctlAsync(Admin("get", "services"));
            Assert.Equal(0, code);
            Assert.Matches(@"reviews\.default\s+2\s+2", output);

            (code, output) = await MeshctlAsync(Admin("get", "instances", "-o", "json"));
            Assert.Equal(0, code);
            Assert.Equal(3, JsonDocument.Parse(output).RootElement.GetArrayLength());

            (code, output) = await MeshctlAsync(Admin("describe", "service", "reviews"));
            Assert.Equal(0, code);
            Assert.Contains("2 healthy of 2", output, StringComparison.Ordinal);
            Assert.Matches(@"subset v2\s+version=v2\s+endpoints: reviews-v2", output);
            Assert.Contains("outlier detection (3 errors", output, StringComparison.Ordinal);

            // explain, for cases RoutingTests prove with calls.
            (code, output) = await MeshctlAsync(Admin("explain", "--from", "productpage", "-H", "end-user: jason", "http://reviews/reviews/1"));
            Assert.Equal(0, code);
            Assert.Contains("http[0] 'jason' is the first that matches", output, StringComparison.Ordinal);
            Assert.Contains("100% to reviews.default", output, StringComparison.Ordinal);
            Assert.Contains("subset v2", output, StringComparison.Ordinal);

            (code, output) = await MeshctlAsync(Admin("explain", "--from", "productpage", "--label", "version=v2", "reviews/x"));
            Assert.Contains("'canary-callers' is the first that matches", output, StringComparison.Ordinal);

            (code, output) = await MeshctlAsync(Admin("explain", "--from", "productpage", "reviews"));
            Assert.Contains("'everyone' is the first that matches", output, StringComparison.Ordinal);
            Assert.Contains("timeout 00:00:02", output, StringComparison.Ordinal);
            Assert.Contains("90% to reviews.default", output, StringComparison.Ordinal);
            Assert.Contains("10% to reviews.default", output, StringComparison.Ordinal);
            Assert.Contains("endpoints: 1 healthy of 1", output, StringComparison.Ordinal);

            (code, output) = await MeshctlAsync(Admin("explain", "--from", "reviews", "ratings/r/1"));
            Assert.Contains("authorization at ratings.default: DENIED (403)", output, StringComparison.Ordinal);
            (code, output) = await MeshctlAsync(Admin("explain", "--from", "productpage", "ratings/r/1"));
            Assert.Contains("authorization at ratings.default: allowed", output, StringComparison.Ordinal);

            (code, output) = await MeshctlAsync(Admin("explain", "--from", "productpage", "details/"));
            Assert.Equal(1, code);
            Assert.Contains("404 from the caller's sidecar (mesh_error unknown-host)", output, StringComparison.Ordinal);

            // The proof: calls go where explain said.
            var caller = await mesh.StartServiceAsync("productpage", "productpage-1");
            using var jason = new HttpRequestMessage(HttpMethod.Get, new Uri(caller.Outbound, "/reviews/1"));
            jason.Headers.Host = "reviews";
            jason.Headers.Add("end-user", "jason");
            using var answered = await mesh.Http.SendAsync(jason);
            Assert.StartsWith("reviews-v2 ", await answered.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // stat: the golden signals of those calls, as the reviews sidecars reported them with their heartbeats.
            for (var i = 0; i < 9; i++)
            {
                Assert.Equal(System.Net.HttpStatusCode.OK, (await mesh.CallAsync(caller, "reviews", "/reviews/1")).Status);
            }
            JsonElement edge = default;
            await Eventually.TrueAsync(async () =>
            {
                (code, output) = await MeshctlAsync(Admin("stat", "--edges", "--window", "5m", "-o", "json"));
                edge = JsonDocument.Parse(output).RootElement.EnumerateArray().FirstOrDefault(e => e.GetProperty("source").GetString() == "productpage.default");
                return code == 0 && edge.ValueKind == JsonValueKind.Object && edge.GetProperty("requests").GetInt64() == 10;
            }, TimeSpan.FromSeconds(15), () => $"meshctl stat --edges never showed productpage's 10 calls: {output}");
            Assert.Equal(("reviews.default", 0L, 1.0), (edge.GetProperty("service").GetString(), edge.GetProperty("errors").GetInt64(), edge.GetProperty("successRate").GetDouble()));
            (code, output) = await MeshctlAsync(Admin("stat", "--window", "5m"));
            Assert.Equal(0, code);
            Assert.Matches(@"reviews\.default\s+[\d.]+\s+100%\s+[\d.]+ms\s+[\d.]+ms\s+10\b", output);
        });
    }

    internal static async Task<(int Code, string Output)> MeshctlAsync(string[] args)
    {
        await using var meshctl = MeshProcess.StartDll("meshctl " + string.Join(' ', args.SkipWhile(a => a.StartsWith("--", StringComparison.Ordinal) || a.Contains('/')).Take(2)), RepoPaths.MeshctlDll, args);
        var code = await meshctl.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (code, meshctl.Output);
    }
}
