using Mesh.EndToEnd.Tests.Infrastructure;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// TLS and etcd users between the control plane and etcd: 3 real etcd members started with
/// --cert-file/--key-file/--trusted-ca-file/--client-cert-auth (certificates made by the test), or with
/// users and auth enabled through etcdctl; replicas and sidecars as real processes on loopback.
/// </summary>
public sealed class EtcdSecurityTests
{
    [Fact]
    public Task Tls_WithClientCertificates_ReplicasRegisterAndApply_AnUntrustedOrMissingCertificateEndsTheStart() =>
        EtcdMesh.RunAsync(2, async (etcd, mesh, replicas) =>
        {
            await RegisterAndApplyAsync(mesh, replicas[0], replicas[1]);
            var tls = etcd.Certificates!;

            // etcd's certificate from a CA we were not told to trust.
            var foreign = Path.Combine(mesh.Root, "foreign-ca.crt");
            using (var ca = TestCertificates.ForeignCa("CN=Not etcd's CA"))
            {
                await File.WriteAllTextAsync(foreign, ca.ExportCertificatePem());
            }
            var untrusted = await RefusedAsync(mesh, "untrusted CA", 1, "--etcd-endpoints", etcd.Endpoints, "--etcd-cacert", foreign, "--etcd-cert", tls.ClientCert, "--etcd-key", tls.ClientKey);
            Assert.Contains($"TLS to etcd ({etcd.Endpoints.Split(',')[0]}/) failed", untrusted, StringComparison.Ordinal);
            Assert.Contains("check --etcd-cacert", untrusted, StringComparison.Ordinal);

            // No client certificate: etcd's --client-cert-auth refuses the handshake.
            var anonymous = await RefusedAsync(mesh, "no client certificate", 1, "--etcd-endpoints", etcd.Endpoints, "--etcd-cacert", tls.CaCert);
            Assert.Contains($"TLS to etcd ({etcd.Endpoints.Split(',')[0]}/) failed", anonymous, StringComparison.Ordinal);
            Assert.Contains("certificate", anonymous, StringComparison.Ordinal);
            Assert.Contains("--etcd-cert and --etcd-key", anonymous, StringComparison.Ordinal);

            // TLS files with http:// endpoints: a usage error before anything is dialled.
            var plain = etcd.Endpoints.Replace("https://", "http://", StringComparison.Ordinal);
            var usage = await RefusedAsync(mesh, "http with a CA", 2, "--etcd-endpoints", plain, "--etcd-cacert", tls.CaCert);
            Assert.Contains("--etcd-cacert needs https:// endpoints (TLS)", usage, StringComparison.Ordinal);
        }, tls: true);

    [Fact]
    public Task Auth_UserWithReadwriteOnMesh_ReplicasRegisterAndApply_ReauthenticateAfterEtcdRestarts_WrongCredentialsEndTheStart() =>
        EtcdMesh.RunAsync(2, async (etcd, mesh, replicas) =>
        {
            var (a, b) = (replicas[0], replicas[1]);
            var caller = await RegisterAndApplyAsync(mesh, a, b);

            // Every member restarted: their tokens are gone (etcd keeps simple tokens in memory), so each
            // replica's next call is refused as unauthenticated; it authenticates again and goes on.
            await etcd.RestartAllAsync();
            await mesh.StartServiceOnAsync(b, "ratings", "ratings-2");
            await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1", "ratings-2"]),
                TimeSpan.FromSeconds(30), () => "ratings-2, registered through B after etcd restarted, routable from the caller");
            await EtcdMesh.ApplyAsync(mesh, a, EtcdMesh.RatingsTimeout.Replace("timeout: 3s", "timeout: 4s", StringComparison.Ordinal));

            var wrongPassword = Path.Combine(mesh.Root, "wrong-password");
            await File.WriteAllTextAsync(wrongPassword, "not-the-password\n");
            var refused = await RefusedAsync(mesh, "wrong password", 1, "--etcd-endpoints", etcd.Endpoints, "--etcd-user", EtcdCluster.MeshUser, "--etcd-password-file", wrongPassword);
            Assert.Contains($"refused user '{EtcdCluster.MeshUser}': etcdserver: authentication failed, invalid user ID or password; check --etcd-user and --etcd-password-file", refused, StringComparison.Ordinal);

            var anonymous = await RefusedAsync(mesh, "no user", 1, "--etcd-endpoints", etcd.Endpoints);
            Assert.Contains("refused no --etcd-user: etcdserver: user name is empty; etcd has authentication on: give --etcd-user and --etcd-password-file", anonymous, StringComparison.Ordinal);

            // A user etcd knows but with no role on /mesh/.
            await etcd.EtcdctlAsync("--user", $"root:{etcd.RootPassword}", "user", "add", "nobody:nobody-password");
            var nobody = Path.Combine(mesh.Root, "nobody-password");
            await File.WriteAllTextAsync(nobody, "nobody-password\n");
            var denied = await RefusedAsync(mesh, "no permission", 1, "--etcd-endpoints", etcd.Endpoints, "--etcd-user", "nobody", "--etcd-password-file", nobody);
            Assert.Contains("does not let user 'nobody' read /mesh/: grant it a role with readwrite on the prefix /mesh/", denied, StringComparison.Ordinal);
        }, auth: true);

    /// <summary>A sidecar registered through A is routed from a caller on B, and an apply through B is served by A: the replicas work on etcd.</summary>
    private static async Task<Sidecar> RegisterAndApplyAsync(MeshCluster mesh, ControlPlane a, ControlPlane b)
    {
        await mesh.StartServiceAsync("ratings", "ratings-1");
        var caller = await mesh.StartServiceOnAsync(b, "productpage", "productpage-1");
        await Eventually.ValueAsync(() => mesh.EndpointsAsync(caller, "ratings.default"), e => e.SequenceEqual(["ratings-1"]),
            TimeSpan.FromSeconds(20), () => "ratings-1, registered through A, routable from B's caller");
        Assert.Contains("productpage-1", await EtcdMesh.InstancesAsync(mesh, a));
        var before = (await EtcdMesh.ConfigAsync(mesh, a)).Version;
        await EtcdMesh.ApplyAsync(mesh, b, EtcdMesh.RatingsTimeout);
        await Eventually.ValueAsync(() => EtcdMesh.ConfigAsync(mesh, a), c => c.Version == before + 1 && c.Names.Contains("ratings-timeout"),
            TimeSpan.FromSeconds(20), () => "the VirtualService applied through B, on A");
        return caller;
    }

    /// <summary>A control plane on this etcd with these etcd flags: it must exit with <paramref name="exitCode"/>; its output.</summary>
    private static async Task<string> RefusedAsync(MeshCluster mesh, string why, int exitCode, params string[] etcdArgs)
    {
        await using var process = MeshProcess.StartDll($"control-plane ({why})", RepoPaths.ControlPlaneDll,
        [
            "--config-dir", mesh.ConfigDir, "--data-dir", Path.Combine(mesh.Root, "cp-" + why.Replace(' ', '-')), "--port", FreePorts.Next().ToString(),
            "--admin-port", FreePorts.Next().ToString(), "--listen", "127.0.0.1", "--dns-port", "0", "--store", "etcd", .. etcdArgs,
        ]);
        int code;
        try
        {
            code = await process.WaitForExitAsync(TimeSpan.FromSeconds(40));
        }
        catch (TaskCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"control plane with {why} did not exit within 40s\n{process.Output}");
        }
        Assert.True(code == exitCode, $"control plane with {why}: exit {code}, expected {exitCode}\n{process.Output}");
        return process.Output;
    }
}
