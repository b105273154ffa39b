using System.Diagnostics;

/// <summary>
/// The control planes under test: one on the file store, or replicas on etcd (sharing the config dir, whose
/// elected replica imports it, and a root CA kept on etcd). Counts, on the first, the lease expiries it logs.
/// </summary>
internal sealed class Replicas : IDisposable
{
    private readonly List<(Process Process, int Port, int AdminPort)> _replicas = [];
    private int _leasesExpired;

    public IReadOnlyList<(Process Process, int Port, int AdminPort)> All => _replicas;

    public int LeasesExpired => Volatile.Read(ref _leasesExpired);

    public static async Task<Replicas> StartAsync(string root, string work, string configDir, int count, string? etcdEndpoints, bool noHeartbeats)
    {
        var replicas = new Replicas();
        var dll = Path.Combine(root, "src", "Mesh.ControlPlane", "bin", "Release", "net10.0", "Mesh.ControlPlane.dll");
        string[] store = [];
        if (etcdEndpoints is not null)
        {
            var secret = Path.Combine(work, "ca-secret");
            File.WriteAllText(secret, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            store = ["--store", "etcd", "--etcd-endpoints", etcdEndpoints, "--ca-key-secret-file", secret];
        }
        using var http = new HttpClient();
        for (var i = 0; i < count; i++)
        {
            var (port, adminPort) = (BenchProcess.FreePort(), BenchProcess.FreePort());
            var info = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in new[]
            {
                dll, "--config-dir", configDir, "--data-dir", Path.Combine(work, $"data-{i}"), "--port", port.ToString(), "--admin-port", adminPort.ToString(),
                "--listen", "127.0.0.1", "--dns-port", "0", "--lease-ttl", noHeartbeats ? "1h" : "8s",
                // One join token makes every service's first certificate: more than 200 services pass its CSR rate limit.
                "--csr-rate", "0",
            }.Concat(store))
            {
                info.ArgumentList.Add(arg);
            }
            var process = Process.Start(info)!;
            // Every replica's log is read: on etcd the elected sweeper, whichever replica it is, logs the expiries.
            // The last lines are kept to say why a replica that never got ready failed.
            var tail = new Queue<string>();
            void Keep(string? line)
            {
                if (line is null)
                {
                    return;
                }
                lock (tail)
                {
                    tail.Enqueue(line);
                    if (tail.Count > 20)
                    {
                        tail.Dequeue();
                    }
                }
            }
            process.OutputDataReceived += (_, e) => { replicas.Count(e.Data); Keep(e.Data); };
            process.ErrorDataReceived += (_, e) => Keep(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            replicas._replicas.Add((process, port, adminPort));
            try
            {
                // The first makes the root CA (on etcd) before the others read it.
                await BenchProcess.WaitAsync(async () => (await http.GetAsync($"http://127.0.0.1:{adminPort}/ready")).IsSuccessStatusCode, TimeSpan.FromMinutes(2));
            }
            catch (Exception e)
            {
                replicas.Dispose();
                string log;
                lock (tail)
                {
                    log = string.Join(Environment.NewLine, tail);
                }
                throw new InvalidOperationException($"control plane {i} (port {port}, admin {adminPort}) never answered /ready; its last output:{Environment.NewLine}{log}", e);
            }
        }
        return replicas;
    }

    private void Count(string? line)
    {
        // Lease expiries and mass-expiry protection are part of what this benchmark shows. The file store logs
        // each expiry; on etcd the elected sweeper does, once per expiry (every replica also logs the key leaving).
        if (line?.Contains("Mass-expiry protection", StringComparison.Ordinal) == true)
        {
            Console.WriteLine($"control plane: {line}");
        }
        else if (line?.Contains(") expired; removed", StringComparison.Ordinal) == true)
        {
            Interlocked.Increment(ref _leasesExpired);
        }
    }

    public void Dispose()
    {
        foreach (var (process, _, _) in _replicas)
        {
            process.Kill();
            process.WaitForExit();
            process.Dispose();
        }
    }
}
