using System.Text.Json;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Control-plane replicas on a real 3-member etcd (<c>--store etcd</c>), issuing from one shared root CA,
/// and what tests ask each replica's admin API.
/// </summary>
internal static class EtcdMesh
{
    /// <summary>A VirtualService the tests apply: a 3 s timeout on ratings.</summary>
    public const string RatingsTimeout = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: ratings-timeout}
        spec:
          hosts: [ratings]
          http:
          - timeout: 3s
            route: [{destination: {host: ratings}}]
        """;

    /// <summary>
    /// 3 etcd members and <paramref name="replicas"/> control planes on them (the first is the cluster's
    /// <see cref="MeshCluster.ControlPlane"/>), then the scenario; a failure carries every process's output and etcd's.
    /// With <paramref name="tls"/> the members serve clients over TLS with client-certificate auth; with
    /// <paramref name="auth"/> etcd's users are on; the replicas get the flags for both, and <paramref name="replicaArgs"/>.
    /// </summary>
    public static async Task RunAsync(int replicas, Func<EtcdCluster, MeshCluster, IReadOnlyList<ControlPlane>, Task> scenario, bool rootOnEtcd = false,
        bool tls = false, bool auth = false, IEnumerable<string>? replicaArgs = null)
    {
        await using var etcd = await EtcdCluster.StartAsync(3, tls);
        if (auth)
        {
            await etcd.EnableAuthAsync();
        }
        await using var mesh = new MeshCluster();
        mesh.ControlPlaneArgs.AddRange(["--store", "etcd", .. etcd.ClientArgs, .. replicaArgs ?? []]);
        if (rootOnEtcd)
        {
            // The first replica makes the root and stores it on etcd, its key encrypted with this secret.
            await File.WriteAllTextAsync(SecretFile(mesh), Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            mesh.ControlPlaneArgs.AddRange(["--ca-key-secret-file", SecretFile(mesh)]);
        }
        else
        {
            // Every replica starts from the same root files, so sidecars of either trust each other.
            var root = await MakeSharedRootAsync(mesh);
            mesh.ControlPlaneArgs.AddRange(["--root-cert", Path.Combine(root, "root.crt"), "--root-key", Path.Combine(root, "root.key")]);
        }
        try
        {
            await mesh.RunAsync(async () =>
            {
                List<ControlPlane> started = [await mesh.StartControlPlaneAsync()];
                while (started.Count < replicas)
                {
                    started.Add(await mesh.StartReplicaAsync());
                }
                await scenario(etcd, mesh, started);
            });
        }
        catch (Xunit.Sdk.XunitException e)
        {
            throw new Xunit.Sdk.XunitException(e.Message + "\n\n" + etcd.Logs);
        }
    }

    /// <summary>The secret file replicas get with <c>--ca-key-secret-file</c> when the root is on etcd.</summary>
    public static string SecretFile(MeshCluster mesh) => Path.Combine(mesh.Root, "ca-key-secret");

    /// <summary>Checks, for two lease TTLs, that the caller's routing set for ratings stays exactly <paramref name="expected"/>.</summary>
    public static async Task StaysAsync(MeshCluster mesh, Sidecar caller, string[] expected)
    {
        var until = DateTime.UtcNow + 2 * MeshCluster.LeaseTtl;
        while (DateTime.UtcNow < until)
        {
            Assert.Equal(expected, await mesh.EndpointsAsync(caller, "ratings.default"));
            await Task.Delay(250);
        }
    }

    /// <summary>The instance ids a replica's registry holds (<c>GET /v1/instances</c>).</summary>
    public static async Task<string[]> InstancesAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var doc = await AdminGetAsync(mesh, cp, "/v1/instances");
        return [.. doc.RootElement.EnumerateArray().Select(i => i.GetProperty("instanceId").GetString()!)];
    }

    /// <summary>"node STATUS" for each sidecar a replica's proxy-status lists.</summary>
    public static async Task<string[]> ProxyStatusOfAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var doc = await AdminGetAsync(mesh, cp, "/v1/proxy-status");
        return [.. doc.RootElement.EnumerateArray().Select(p => $"{p.GetProperty("node").GetString()} {p.GetProperty("status").GetString()}")];
    }

    /// <summary>Each sidecar a replica's proxy-status lists, with the replica it watches.</summary>
    public static async Task<(string Node, string Status, string Replica)[]> ProxyStatusWithReplicasAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var doc = await AdminGetAsync(mesh, cp, "/v1/proxy-status");
        return [.. doc.RootElement.EnumerateArray().Select(p => (p.GetProperty("node").GetString()!, p.GetProperty("status").GetString()!, p.GetProperty("replica").GetString()!))];
    }

    private static async Task<JsonDocument> AdminGetAsync(MeshCluster mesh, ControlPlane cp, string path) =>
        JsonDocument.Parse(await AdminGetTextAsync(mesh, cp, path));

    /// <summary>meshctl apply of <paramref name="yaml"/> through <paramref name="cp"/> with its admin token; asserts it exited 0.</summary>
    public static async Task ApplyAsync(MeshCluster mesh, ControlPlane cp, string yaml)
    {
        var file = Path.Combine(mesh.Root, $"apply-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, yaml);
        var (code, output) = await MeshctlAsync("--admin", cp.Admin.GetLeftPart(UriPartial.Authority), "--token-file", Path.Combine(cp.DataDir, "admin-token"), "apply", "-f", file);
        Assert.True(code == 0, $"meshctl apply exited {code}: {output}");
    }

    /// <summary>A replica's config history (<c>GET /v1/config/history</c>): version, how and who.</summary>
    public static async Task<(long Version, string How, string Who)[]> HistoryAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var doc = await AdminGetAsync(mesh, cp, "/v1/config/history");
        return [.. doc.RootElement.GetProperty("versions").EnumerateArray()
            .Select(v => (v.GetProperty("version").GetInt64(), v.GetProperty("how").GetString()!, v.GetProperty("who").GetString()!))];
    }

    /// <summary>The body of a GET on a replica's admin API, with its admin token.</summary>
    public static async Task<string> AdminGetTextAsync(MeshCluster mesh, ControlPlane cp, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(cp.Admin, path));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MeshCluster.AdminTokenOf(cp));
        using var response = await mesh.Http.SendAsync(request);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>A replica's config version and the names of its VirtualServices (<c>GET /v1/config</c>).</summary>
    public static async Task<(long Version, string[] Names)> ConfigAsync(MeshCluster mesh, ControlPlane cp)
    {
        using var doc = await AdminGetAsync(mesh, cp, "/v1/config");
        var names = doc.RootElement.GetProperty("config").GetProperty("virtualServices").EnumerateArray().Select(v => v.GetProperty("metadata").GetProperty("name").GetString()!).ToArray();
        return (doc.RootElement.GetProperty("version").GetInt64(), names);
    }

    /// <summary>meshctl with these arguments, as a process; its exit code and output.</summary>
    public static async Task<(int Code, string Output)> MeshctlAsync(params string[] args)
    {
        await using var meshctl = MeshProcess.StartDll("meshctl apply", RepoPaths.MeshctlDll, args);
        var code = await meshctl.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (code, meshctl.Output);
    }

    private static async Task<string> MakeSharedRootAsync(MeshCluster mesh)
    {
        var dir = Path.Combine(mesh.Root, "shared-root");
        using var make = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bash", [Path.Combine(RepoPaths.Root, "certs", "make-dev-root.sh"), dir, "30"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        await make.WaitForExitAsync();
        Assert.True(make.ExitCode == 0, await make.StandardError.ReadToEndAsync());
        return dir;
    }
}
