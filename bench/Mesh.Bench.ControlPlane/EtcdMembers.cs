using System.Diagnostics;

/// <summary>
/// Three etcd members (Debian's etcd-server, /usr/bin/etcd) on loopback for the etcd store's run, with their
/// data dirs under the run's work dir; and the write counters etcd exports on /metrics.
/// </summary>
internal sealed class EtcdMembers : IDisposable
{
    private readonly List<(Process Process, int ClientPort)> _members = [];

    private EtcdMembers()
    {
    }

    public string Endpoints => string.Join(",", _members.Select(m => $"http://127.0.0.1:{m.ClientPort}"));

    public IEnumerable<int> Pids => _members.Select(m => m.Process.Id);

    public static async Task<EtcdMembers> StartAsync(string work, int size = 3)
    {
        if (!File.Exists("/usr/bin/etcd"))
        {
            throw new InvalidOperationException("--store etcd needs etcd: apt-get install -y etcd-server");
        }
        var ports = Enumerable.Range(0, size).Select(_ => (Client: BenchProcess.FreePort(), Peer: BenchProcess.FreePort())).ToArray();
        var cluster = string.Join(",", ports.Select((p, i) => $"m{i}=http://127.0.0.1:{p.Peer}"));
        var members = new EtcdMembers();
        for (var i = 0; i < size; i++)
        {
            var (client, peer) = ports[i];
            var info = new ProcessStartInfo("/usr/bin/etcd")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in new[]
            {
                "--name", $"m{i}", "--data-dir", Path.Combine(work, $"etcd-m{i}"),
                "--listen-client-urls", $"http://127.0.0.1:{client}", "--advertise-client-urls", $"http://127.0.0.1:{client}",
                "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "mesh-bench",
                "--logger", "zap", "--log-level", "error",
            })
            {
                info.ArgumentList.Add(arg);
            }
            var process = Process.Start(info)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            members._members.Add((process, client));
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            foreach (var (_, client) in members._members)
            {
                // Healthy once a leader is elected; a member still forming the cluster may not answer within the timeout.
                await BenchProcess.WaitAsync(async () =>
                {
                    try
                    {
                        return (await http.GetStringAsync($"http://127.0.0.1:{client}/health")).Contains("\"true\"", StringComparison.Ordinal);
                    }
                    catch (TaskCanceledException)
                    {
                        return false;
                    }
                });
            }
        }
        catch
        {
            members.Dispose();
            throw;
        }
        return members;
    }

    /// <summary>
    /// etcd's write counters, the largest over the members (every member applies every write):
    /// raft proposals committed and keys put.
    /// </summary>
    public async Task<(double Proposals, double Puts)> CountersAsync(HttpClient http)
    {
        double proposals = 0, puts = 0;
        foreach (var (_, client) in _members)
        {
            var text = await http.GetStringAsync($"http://127.0.0.1:{client}/metrics");
            proposals = Math.Max(proposals, Counter(text, "etcd_server_proposals_committed_total"));
            puts = Math.Max(puts, Counter(text, "etcd_mvcc_put_total"));
        }
        return (proposals, puts);
    }

    private static double Counter(string metrics, string name) =>
        metrics.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Sum();

    public void Dispose()
    {
        foreach (var (process, _) in _members)
        {
            process.Kill();
            process.WaitForExit();
            process.Dispose();
        }
    }
}
