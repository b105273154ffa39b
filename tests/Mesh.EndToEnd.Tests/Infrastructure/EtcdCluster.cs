using System.Text.Json;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A real etcd cluster (Debian's etcd-server, installed by .ci/run) of a few members on loopback, each a
/// process with free ports and a data dir in a temp directory. Members can be SIGKILLed and started again;
/// on dispose every member is killed and the directory removed, so no etcd outlives a test. With
/// <c>tls</c>, clients reach members over TLS with a client certificate (<c>--client-cert-auth</c>); with
/// <see cref="EnableAuthAsync"/>, etcd's users are on; <see cref="SnapshotSaveAsync"/> and
/// <see cref="RestoreAsync"/> do the backup and restore of docs/ha.md.
/// </summary>
internal sealed class EtcdCluster : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    /// <summary>The etcd user the control plane is given once <see cref="EnableAuthAsync"/> ran (readwrite on /mesh/ only).</summary>
    public const string MeshUser = "mesh";
    private readonly HttpClient _http;
    private readonly Member[] _members;
    private readonly string _initialCluster;
    private readonly string _scheme;
    private string _token = "mesh-test-" + Guid.NewGuid().ToString("n")[..8];

    private sealed class Member(string name, int clientPort, int peerPort, string dataDir)
    {
        public string Name => name;
        public int ClientPort => clientPort;
        public int PeerPort => peerPort;
        public string DataDir { get; set; } = dataDir;
        public MeshProcess? Process { get; set; }
        public int Starts { get; set; }
    }

    private EtcdCluster(int size, bool tls)
    {
        Root = Directory.CreateTempSubdirectory("mesh-etcd-").FullName;
        _members = [.. Enumerable.Range(0, size).Select(i => new Member($"m{i}", FreePorts.Next(), FreePorts.Next(), Path.Combine(Root, $"m{i}")))];
        _initialCluster = string.Join(",", _members.Select(m => $"{m.Name}=http://127.0.0.1:{m.PeerPort}"));
        _scheme = tls ? "https" : "http";
        Certificates = tls ? EtcdCertificates.Write(Path.Combine(Root, "tls")) : null;
        _http = new HttpClient(Certificates?.Handler() ?? new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
    }

    public string Root { get; }

    /// <summary>The cluster's TLS files (null on plain http).</summary>
    public EtcdCertificates? Certificates { get; }

    /// <summary>etcd's root user's password, once <see cref="EnableAuthAsync"/> ran (for etcdctl's <c>--user root:PASSWORD</c>).</summary>
    public string? RootPassword { get; private set; }

    /// <summary>The file holding <see cref="MeshUser"/>'s password, once <see cref="EnableAuthAsync"/> ran.</summary>
    public string? PasswordFile { get; private set; }

    /// <summary>The client URLs, as <c>--etcd-endpoints</c> takes them.</summary>
    public string Endpoints => string.Join(",", _members.Select(m => $"{_scheme}://127.0.0.1:{m.ClientPort}"));

    /// <summary>What a control plane needs to reach this cluster: the endpoints, and the TLS files and the user when they are on.</summary>
    public string[] ClientArgs =>
    [
        "--etcd-endpoints", Endpoints,
        .. Certificates is { } c ? new[] { "--etcd-cacert", c.CaCert, "--etcd-cert", c.ClientCert, "--etcd-key", c.ClientKey } : [],
        .. PasswordFile is { } p ? new[] { "--etcd-user", MeshUser, "--etcd-password-file", p } : [],
    ];

    public string Logs => string.Join("\n\n", _members.Where(m => m.Process is not null).Select(m => $"== etcd {m.Name} ==\n{m.Process!.Output}"));

    /// <summary>Starts <paramref name="size"/> members and waits until every one reports itself healthy (a leader elected).</summary>
    public static async Task<EtcdCluster> StartAsync(int size = 3, bool tls = false)
    {
        if (!File.Exists("/usr/bin/etcd"))
        {
            throw new InvalidOperationException("etcd is not installed: apt-get install -y etcd-server (.ci/run does)");
        }
        var cluster = new EtcdCluster(size, tls);
        try
        {
            foreach (var member in cluster._members)
            {
                cluster.Launch(member);
            }
            foreach (var index in Enumerable.Range(0, size))
            {
                await cluster.WaitHealthyAsync(index).ConfigureAwait(false);
            }
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>SIGKILL: the member gets no chance to step down or flush.</summary>
    public void Kill(int index) => _members[index].Process?.Kill();

    /// <summary>Starts a killed member again on its ports and data dir, and waits until it is healthy.</summary>
    public async Task RestartAsync(int index)
    {
        if (_members[index].Process is { } old)
        {
            await old.DisposeAsync().ConfigureAwait(false);
        }
        Launch(_members[index]);
        await WaitHealthyAsync(index).ConfigureAwait(false);
    }

    /// <summary>Starts every member again (after all were killed: one alone has no quorum, so none is healthy until most are up).</summary>
    public async Task RestartAllAsync()
    {
        foreach (var member in _members)
        {
            if (member.Process is { } old)
            {
                await old.DisposeAsync().ConfigureAwait(false);
            }
            Launch(member);
        }
        for (var i = 0; i < _members.Length; i++)
        {
            await WaitHealthyAsync(i).ConfigureAwait(false);
        }
    }

    /// <summary>The index of the member that is the raft leader now, as the members say.</summary>
    public async Task<int> LeaderAsync()
    {
        for (var i = 0; i < _members.Length; i++)
        {
            if (_members[i].Process is { HasExited: false } && await StatusAsync(i).ConfigureAwait(false) is { } status && status.Member == status.Leader)
            {
                return i;
            }
        }
        throw new InvalidOperationException("no etcd member is the leader\n" + Logs);
    }

    /// <summary>How many keys start with <paramref name="prefix"/>, as a live member reads them (etcd's gRPC gateway).</summary>
    public async Task<long> KeyCountAsync(string prefix)
    {
        var key = System.Text.Encoding.UTF8.GetBytes(prefix);
        var end = (byte[])key.Clone();
        end[^1]++;
        var member = _members.First(m => m.Process is { HasExited: false });
        var body = JsonSerializer.Serialize(new Dictionary<string, object> { ["key"] = Convert.ToBase64String(key), ["range_end"] = Convert.ToBase64String(end), ["count_only"] = true });
        using var response = await _http.PostAsync(new Uri($"http://127.0.0.1:{member.ClientPort}/v3/kv/range"), new StringContent(body)).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
        // The gateway leaves zero-valued fields out and writes int64s as strings.
        return doc.RootElement.TryGetProperty("count", out var count) ? long.Parse(count.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>A key's value as text, or null when the key does not exist, as a live member reads it.</summary>
    public async Task<string?> ValueAsync(string key)
    {
        var member = _members.First(m => m.Process is { HasExited: false });
        var body = JsonSerializer.Serialize(new Dictionary<string, object> { ["key"] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(key)) });
        using var response = await _http.PostAsync(new Uri($"{_scheme}://127.0.0.1:{member.ClientPort}/v3/kv/range"), new StringContent(body)).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
        if (!doc.RootElement.TryGetProperty("kvs", out var kvs) || kvs.GetArrayLength() == 0)
        {
            return null;
        }
        return kvs[0].TryGetProperty("value", out var value) ? System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(value.GetString()!)) : "";
    }

    private async Task<(string Member, string Leader)?> StatusAsync(int index)
    {
        try
        {
            // etcd's gRPC gateway (v3 API over HTTP/JSON), served on the client port.
            using var response = await _http.PostAsync(new Uri($"{_scheme}://127.0.0.1:{_members[index].ClientPort}/v3/maintenance/status"), new StringContent("{}")).ConfigureAwait(false);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
            return (doc.RootElement.GetProperty("header").GetProperty("member_id").GetString()!, doc.RootElement.GetProperty("leader").GetString()!);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            return null;
        }
    }

    private void Launch(Member member)
    {
        member.Starts++;
        member.Process = MeshProcess.Start($"etcd {member.Name}" + (member.Starts > 1 ? $" (start {member.Starts})" : ""), "/usr/bin/etcd",
        [
            "--name", member.Name, "--data-dir", member.DataDir,
            "--listen-client-urls", $"{_scheme}://127.0.0.1:{member.ClientPort}", "--advertise-client-urls", $"{_scheme}://127.0.0.1:{member.ClientPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{member.PeerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{member.PeerPort}",
            // Ignored when the data dir already holds the member (a restart).
            "--initial-cluster", _initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", _token,
            "--logger", "zap", "--log-level", "warn",
            .. Certificates is { } c
                ? new[] { "--cert-file", c.ServerCert, "--key-file", c.ServerKey, "--trusted-ca-file", c.CaCert, "--client-cert-auth" }
                : [],
        ]);
    }

    /// <summary>
    /// Turns etcd's users on as docs/ha.md says: a root user (etcd wants one first), the user <see cref="MeshUser"/>
    /// with a role of readwrite on the prefix /mesh/, then <c>auth enable</c>.
    /// </summary>
    public async Task EnableAuthAsync()
    {
        var rootPassword = "root-" + Guid.NewGuid().ToString("n");
        var meshPassword = "mesh-" + Guid.NewGuid().ToString("n");
        await EtcdctlAsync("user", "add", $"root:{rootPassword}").ConfigureAwait(false);
        await EtcdctlAsync("user", "add", $"{MeshUser}:{meshPassword}").ConfigureAwait(false);
        await EtcdctlAsync("role", "add", MeshUser).ConfigureAwait(false);
        await EtcdctlAsync("role", "grant-permission", MeshUser, "--prefix=true", "readwrite", "/mesh/").ConfigureAwait(false);
        await EtcdctlAsync("user", "grant-role", MeshUser, MeshUser).ConfigureAwait(false);
        await EtcdctlAsync("auth", "enable").ConfigureAwait(false);
        PasswordFile = Path.Combine(Root, "mesh-password");
        await File.WriteAllTextAsync(PasswordFile, meshPassword + "\n").ConfigureAwait(false);
        RootPassword = rootPassword;
    }

    /// <summary>
    /// <c>ETCDCTL_API=3 etcdctl --endpoints … snapshot save FILE</c>, against the first member that is up,
    /// as docs/ha.md says; fails the test with etcdctl's output when it exits non-zero.
    /// </summary>
    public async Task SnapshotSaveAsync(string file)
    {
        var member = _members.First(m => m.Process is { HasExited: false });
        await EtcdctlOnAsync($"{_scheme}://127.0.0.1:{member.ClientPort}", "snapshot", "save", file).ConfigureAwait(false);
    }

    /// <summary>Stops every member (SIGKILL) and deletes its data dir: the cluster is gone, only a snapshot is left.</summary>
    public async Task WipeAsync()
    {
        foreach (var member in _members)
        {
            if (member.Process is { } process)
            {
                await process.DisposeAsync().ConfigureAwait(false);
                member.Process = null;
            }
            Directory.Delete(member.DataDir, recursive: true);
        }
    }

    /// <summary>
    /// Restores <paramref name="snapshot"/> into a new cluster on the same ports, as docs/ha.md says:
    /// <c>etcdctl snapshot restore</c> once per member (--name, --initial-cluster, --initial-cluster-token,
    /// --initial-advertise-peer-urls, --data-dir), then every member started on its new data dir.
    /// </summary>
    public async Task RestoreAsync(string snapshot)
    {
        _token = "mesh-restored-" + Guid.NewGuid().ToString("n")[..8];
        foreach (var member in _members)
        {
            member.DataDir = Path.Combine(Root, $"{member.Name}-restored");
            await RunEtcdctlAsync(["snapshot", "restore", snapshot, "--name", member.Name, "--initial-cluster", _initialCluster,
                "--initial-cluster-token", _token, "--initial-advertise-peer-urls", $"http://127.0.0.1:{member.PeerPort}", "--data-dir", member.DataDir]).ConfigureAwait(false);
        }
        await RestartAllAsync().ConfigureAwait(false);
    }

    /// <summary>etcdctl against every member, with the cluster's TLS files (once auth is on, pass <c>--user root:PASSWORD</c>).</summary>
    public Task<string> EtcdctlAsync(params string[] args) => EtcdctlOnAsync(Endpoints, args);

    private Task<string> EtcdctlOnAsync(string endpoints, params string[] args) =>
        RunEtcdctlAsync(["--endpoints", endpoints,
            .. Certificates is { } c ? new[] { "--cacert", c.CaCert, "--cert", c.ClientCert, "--key", c.ClientKey } : [], .. args]);

    private static async Task<string> RunEtcdctlAsync(string[] args)
    {
        await using var etcdctl = MeshProcess.Start("etcdctl", "/usr/bin/etcdctl", args, new Dictionary<string, string> { ["ETCDCTL_API"] = "3" });
        var code = await etcdctl.WaitForExitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        Assert.True(code == 0, $"etcdctl {string.Join(' ', args)} exited {code}: {etcdctl.Output}");
        return etcdctl.Output;
    }

    private Task WaitHealthyAsync(int index)
    {
        var member = _members[index];
        return Eventually.TrueAsync(async () =>
        {
            if (member.Process!.HasExited)
            {
                throw new InvalidOperationException($"etcd {member.Name} exited with {member.Process.ExitCode}\n{member.Process.Output}");
            }
            using var response = await _http.GetAsync(new Uri($"{_scheme}://127.0.0.1:{member.ClientPort}/health")).ConfigureAwait(false);
            return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync().ConfigureAwait(false)).Contains("\"true\"", StringComparison.Ordinal);
        }, StartTimeout, () => $"etcd {member.Name} did not become healthy\n{Logs}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var member in _members)
        {
            if (member.Process is not null)
            {
                await member.Process.DisposeAsync().ConfigureAwait(false);
            }
        }
        _http.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A member just killed may hold a file for a moment; the temp dir is harmless.
        }
    }
}
