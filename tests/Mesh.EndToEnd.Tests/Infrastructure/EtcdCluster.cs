using System.Text.Json;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A real etcd cluster (Debian's etcd-server, installed by .ci/run) of a few members on loopback, each a
/// process with free ports and a data dir in a temp directory. Members can be SIGKILLed and started again;
/// on dispose every member is killed and the directory removed, so no etcd outlives a test.
/// </summary>
internal sealed class EtcdCluster : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Member[] _members;
    private readonly string _initialCluster;
    private readonly string _token = "mesh-test-" + Guid.NewGuid().ToString("n")[..8];

    private sealed class Member(string name, int clientPort, int peerPort, string dataDir)
    {
        public string Name => name;
        public int ClientPort => clientPort;
        public int PeerPort => peerPort;
        public string DataDir => dataDir;
        public MeshProcess? Process { get; set; }
        public int Starts { get; set; }
    }

    private EtcdCluster(int size)
    {
        Root = Directory.CreateTempSubdirectory("mesh-etcd-").FullName;
        _members = [.. Enumerable.Range(0, size).Select(i => new Member($"m{i}", FreePorts.Next(), FreePorts.Next(), Path.Combine(Root, $"m{i}")))];
        _initialCluster = string.Join(",", _members.Select(m => $"{m.Name}=http://127.0.0.1:{m.PeerPort}"));
    }

    public string Root { get; }

    /// <summary>The client URLs, as <c>--etcd-endpoints</c> takes them.</summary>
    public string Endpoints => string.Join(",", _members.Select(m => $"http://127.0.0.1:{m.ClientPort}"));

    public string Logs => string.Join("\n\n", _members.Where(m => m.Process is not null).Select(m => $"== etcd {m.Name} ==\n{m.Process!.Output}"));

    /// <summary>Starts <paramref name="size"/> members and waits until every one reports itself healthy (a leader elected).</summary>
    public static async Task<EtcdCluster> StartAsync(int size = 3)
    {
        if (!File.Exists("/usr/bin/etcd"))
        {
            throw new InvalidOperationException("etcd is not installed: apt-get install -y etcd-server (.ci/run does)");
        }
        var cluster = new EtcdCluster(size);
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

    private async Task<(string Member, string Leader)?> StatusAsync(int index)
    {
        try
        {
            // etcd's gRPC gateway (v3 API over HTTP/JSON), served on the client port.
            using var response = await _http.PostAsync(new Uri($"http://127.0.0.1:{_members[index].ClientPort}/v3/maintenance/status"), new StringContent("{}")).ConfigureAwait(false);
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
            "--listen-client-urls", $"http://127.0.0.1:{member.ClientPort}", "--advertise-client-urls", $"http://127.0.0.1:{member.ClientPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{member.PeerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{member.PeerPort}",
            // Ignored when the data dir already holds the member (a restart).
            "--initial-cluster", _initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", _token,
            "--logger", "zap", "--log-level", "warn",
        ]);
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
            using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{member.ClientPort}/health")).ConfigureAwait(false);
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
