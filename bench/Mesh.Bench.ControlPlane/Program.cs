using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

// Control-plane scale benchmark. Starts a real control plane, registers N instances that heartbeat at
// the control plane's interval, opens M watches the way sidecars do (long poll, acknowledging the
// version they applied), then writes config changes and times how long each watcher takes to receive
// the new version. Usage:
//   dotnet run -c Release --project bench/Mesh.Bench.ControlPlane -- [--watchers 1000] [--instances 10000] [--changes 5]
//     [--services 100] [--no-heartbeats] [--scoping] [--store file|etcd|both] [--replicas 3]
// --store etcd starts 3 etcd members and --replicas control planes on them itself (root CA on etcd, one shared
// config dir whose elected replica imports it) and spreads instances and watchers over the replicas; both runs
// the file store and then etcd in the same run and prints one table.
// --scoping measures, after the unscoped changes and in the same run, snapshot size and propagation again with a
// Sidecar resource per service (each service calls the next ScopingPhase.Calls services). --no-heartbeats gives
// leases an hour instead of renewing them (a smaller load on a shared machine, where propagation is the question).
var watchers = BenchProcess.Arg(args, "--watchers", 1000);
var instanceCount = BenchProcess.Arg(args, "--instances", 10000);
var changes = BenchProcess.Arg(args, "--changes", 5);
var services = BenchProcess.Arg(args, "--services", 100);
var scoping = args.Contains("--scoping");
var noHeartbeats = args.Contains("--no-heartbeats");
var store = args.SkipWhile(a => a != "--store").Skip(1).FirstOrDefault() ?? "file";
var replicaCount = BenchProcess.Arg(args, "--replicas", 3);
string[] stores = store switch
{
    "file" => ["file"],
    "etcd" => ["etcd"],
    "both" => ["file", "etcd"],
    _ => throw new ArgumentException($"--store expects file, etcd or both, got '{store}'"),
};
var root = BenchProcess.FindRoot();
var rows = new List<string>();
foreach (var run in stores)
{
    rows.Add(await RunAsync(run));
}
Console.WriteLine();
Console.WriteLine($"| store | watchers | instances | write→all p50 (median of {changes}) | p99 | max | heartbeats/s | heartbeat errors | leases expired | re-registrations | etcd proposals/s | etcd puts/s | CPU per replica (cores) | RSS per replica MB | etcd CPU (cores, all members) |");
Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
foreach (var row in rows)
{
    Console.WriteLine(row);
}
return 0;

async Task<string> RunAsync(string run)
{
    var work = Directory.CreateTempSubdirectory("mesh-cp-bench-").FullName;
    var configDir = Path.Combine(work, "config");
    Directory.CreateDirectory(configDir);
    var etcd = run == "etcd" ? await EtcdMembers.StartAsync(work) : null;
    Replicas cps;
    try
    {
        cps = await Replicas.StartAsync(root, work, configDir, etcd is null ? 1 : replicaCount, etcd?.Endpoints, noHeartbeats);
    }
    catch
    {
        etcd?.Dispose();
        throw;
    }
    var (port, adminPort) = (cps.All[0].Port, cps.All[0].AdminPort);
    Console.WriteLine(etcd is null ? "store file: 1 control plane" : $"store etcd: 3 members, {cps.All.Count} replicas");
    var row = "";
    try
    {
        // The bench trusts the control plane's self-made certificate without checking it: loopback, throwaway.
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        };
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}") };
        await BenchProcess.WaitAsync(async () => (await admin.GetAsync("/ready")).IsSuccessStatusCode);
        admin.DefaultRequestHeaders.Authorization = new("Bearer", File.ReadAllText(Path.Combine(work, "data-0", "admin-token")).Trim());

        // Each of the simulated services gets a workload certificate, as its sidecars would, and its
        // calls go over connections presenting it (the control plane allows a service only its own instances).
        using var joinResponse = await admin.PostAsJsonAsync("/v1/join-tokens", new { description = "bench" });
        joinResponse.EnsureSuccessStatusCode();
        var joinToken = System.Text.Json.JsonDocument.Parse(await joinResponse.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        using var bootstrap = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(3) };
        // One client per service per replica: instance n and watcher w use replica n % replicas.
        var clients = new HttpClient[cps.All.Count, services];
        var certificates = new System.Security.Cryptography.X509Certificates.X509Certificate2[services];
        for (var k = 0; k < services; k++)
        {
            var (key, csr) = Mesh.Core.Security.WorkloadCertificates.CreateRequest(new Mesh.Core.Security.SpiffeId("cluster.local", "default", $"svc-{k}"));
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/certificates") { Content = JsonContent.Create(new { csr }) };
            request.Headers.Authorization = new("Bearer", joinToken);
            using var issued = await bootstrap.SendAsync(request);
            issued.EnsureSuccessStatusCode();
            var pem = System.Text.Json.JsonDocument.Parse(await issued.Content.ReadAsStringAsync()).RootElement.GetProperty("certificate").GetString()!;
            var certificate = certificates[k] = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(pem, key.ExportPkcs8PrivateKeyPem());
            for (var r = 0; r < cps.All.Count; r++)
            {
                clients[r, k] = new HttpClient(new SocketsHttpHandler
                {
                    SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true, LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate },
                    MaxConnectionsPerServer = int.MaxValue,
                    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
                    AutomaticDecompression = System.Net.DecompressionMethods.GZip, // as sidecars do
                }) { BaseAddress = new Uri($"https://127.0.0.1:{cps.All[r].Port}"), Timeout = TimeSpan.FromMinutes(3) };
            }
        }
        HttpClient For(string id)
        {
            var n = int.Parse(id[4..], System.Globalization.CultureInfo.InvariantCulture);
            return clients[n % cps.All.Count, n % services];
        }

        // Register the instances over the services, with 16 concurrent registrars.
        var clock = Stopwatch.StartNew();
        var ids = Enumerable.Range(0, instanceCount).Select(i => $"sim-{i}").ToArray();
        // As a sidecar does, each instance heartbeats from its registration on: the heartbeat rounds below run
        // while the rest are still registering (starting them after the last registration let the first
        // instances' leases lapse during a long start-up burst, an artefact of the benchmark, not of a mesh).
        var registered = new bool[instanceCount];
        async Task RegisterAsync(string id, CancellationToken ct)
        {
            var n = int.Parse(id[4..], System.Globalization.CultureInfo.InvariantCulture);
            using var response = await For(id).PostAsJsonAsync("/v1/register", new Registration
            {
                InstanceId = id, Service = $"svc-{n % services}", Address = "127.0.0.1", Port = 20000 + n % 30000, Health = HealthStatus.Healthy,
            }, MeshJson.Options, ct);
            response.EnsureSuccessStatusCode();
            Volatile.Write(ref registered[n], true);
        }
        // Heartbeats: every instance every 2 s (the default interval), paced, counted.
        using var stop = new CancellationTokenSource();
        long heartbeats = 0, heartbeatErrors = 0, reregistrations = 0;
        string? firstError = null;
        var heartbeating = noHeartbeats ? Task.CompletedTask : Task.Run(async () =>
        {
            var interval = TimeSpan.FromSeconds(2);
            while (!stop.IsCancellationRequested)
            {
                var round = Stopwatch.StartNew();
                await Parallel.ForEachAsync(ids.Where((_, i) => Volatile.Read(ref registered[i])), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = stop.Token }, async (id, ct) =>
                {
                    try
                    {
                        using var response = await For(id).PutAsJsonAsync($"/v1/instances/{id}/heartbeat", new Heartbeat(HealthStatus.Healthy), MeshJson.Options, ct);
                        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
                        {
                            // Expired (its heartbeats came later than its lease): register again, as a sidecar does.
                            Interlocked.Increment(ref reregistrations);
                            await RegisterAsync(id, ct);
                        }
                        else if (response.IsSuccessStatusCode)
                        {
                            Interlocked.Increment(ref heartbeats);
                        }
                        else
                        {
                            Interlocked.Increment(ref heartbeatErrors);
                            firstError ??= $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}";
                        }
                    }
                    catch (HttpRequestException e)
                    {
                        Interlocked.Increment(ref heartbeatErrors);
                        firstError ??= e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message;
                    }
                }).ContinueWith(t => { if (t.IsFaulted) { firstError ??= t.Exception!.GetBaseException().ToString(); } });
                if (Environment.GetEnvironmentVariable("BENCH_VERBOSE") is not null)
                {
                    Console.WriteLine($"heartbeat round: {round.Elapsed.TotalSeconds:F1} s, {Interlocked.Read(ref heartbeats)} ok, {Interlocked.Read(ref reregistrations)} re-registered, {Interlocked.Read(ref heartbeatErrors)} errors");
                }
                var rest = interval - round.Elapsed;
                if (rest > TimeSpan.Zero)
                {
                    await Task.Delay(rest).ContinueWith(_ => { });
                }
            }
        });

        clock.Restart();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (id, ct) => await RegisterAsync(id, ct));
        Console.WriteLine($"registered {instanceCount} instances in {clock.Elapsed.TotalSeconds:F1} s");


        // Watchers: long polls like sidecars, each remembering when it first saw each version.
        var seen = new ConcurrentDictionary<(int Watcher, long Version), long>();
        // -1 until a watcher holds a snapshot (config version 0 is a real version: an empty config dir on etcd).
        var current = Enumerable.Repeat(-1L, watchers).ToArray();
        // Bytes each watcher received for each config version (the response that first carried it), and the
        // scope of the snapshot it holds, sent back as a sidecar does so that it gets deltas within it.
        var received = new ConcurrentDictionary<(int Watcher, long Version), long>();
        var watching = Enumerable.Range(0, watchers).Select(w => Task.Run(async () =>
        {
            long version = 0;
            string epoch = "";
            string scope = "";
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await clients[w % cps.All.Count, w % services].GetAsync($"/v1/snapshot?version={version}&delta={(version > 0 ? 1 : 0)}&epoch={epoch}&applied={version}&node=sim-watcher-{w}&service=svc-{w % services}&namespace=default&wait=00:01:00&scope={Uri.EscapeDataString(scope)}", stop.Token);
                    var body = await response.Content.ReadAsByteArrayAsync(stop.Token);
                    if (response.StatusCode == System.Net.HttpStatusCode.OK && !response.Headers.Contains("X-Mesh-Delta"))
                    {
                        scope = ScopingPhase.ScopeKey(body);
                    }
                    epoch = response.Headers.TryGetValues("X-Mesh-Epoch", out var epochs) ? epochs.First() : epoch;
                    if (response.Headers.TryGetValues("X-Mesh-Version", out var values) && long.TryParse(values.First(), out var v))
                    {
                        version = v;
                        // The snapshot starts {"version":N,"configVersion":M,...}: the config version is in the first bytes.
                        var head = System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 120));
                        var match = System.Text.RegularExpressions.Regex.Match(head, "\"configVersion\":(\\d+)");
                        if (match.Success && long.TryParse(match.Groups[1].Value, out var configVersion))
                        {
                            seen.TryAdd((w, configVersion), Stopwatch.GetTimestamp());
                            received.TryAdd((w, configVersion), body.Length);
                            Volatile.Write(ref current[w], configVersion);
                        }
                    }
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
                {
                    if (!stop.IsCancellationRequested)
                    {
                        await Task.Delay(100);
                    }
                }
            }
        })).ToArray();

        async Task<long> SteadyVersionAsync()
        {
            long target = 0;
            await BenchProcess.WaitAsync(async () =>
            {
                using var doc = System.Text.Json.JsonDocument.Parse(await admin.GetStringAsync("/v1/config"));
                target = doc.RootElement.GetProperty("version").GetInt64();
                return target >= 0 && Enumerable.Range(0, watchers).All(w => Volatile.Read(ref current[w]) >= target);
            }, TimeSpan.FromMinutes(2));
            return target;
        }

        await SteadyVersionAsync();
        Console.WriteLine($"{watchers} watchers in sync");
        // Config changes, each timed from the write to every watcher holding it; with the bytes all watchers received for it.
        var written = 0; // changes written so far: each writes a timeout no earlier one did, so each is a change
        async Task<(double P50, double P99, double Max, double Bytes)> MeasureChangesAsync(string label)
        {
            var p50s = new List<double>();
            var p99s = new List<double>();
            var maxes = new List<double>();
            var bytes = new List<double>();
            for (var change = 1; change <= changes; change++)
            {
                var before = await SteadyVersionAsync();
                var writtenAt = Stopwatch.GetTimestamp();
                written++;
                await File.WriteAllTextAsync(Path.Combine(configDir, "routes.yaml"), $$"""
                    apiVersion: networking.istio.io/v1
                    kind: VirtualService
                    metadata: {name: svc-0}
                    spec:
                      hosts: [svc-0]
                      http:
                      - timeout: {{written}}s
                        route:
                        - destination: {host: svc-0}
                    """);
                await BenchProcess.WaitAsync(() => Task.FromResult(Enumerable.Range(0, watchers).All(w => Volatile.Read(ref current[w]) > before)), TimeSpan.FromMinutes(2));
                var firsts = Enumerable.Range(0, watchers)
                    .Select(w => seen.Where(kv => kv.Key.Watcher == w && kv.Key.Version > before).MinBy(kv => kv.Value))
                    .ToArray();
                var delays = firsts.Select(kv => Stopwatch.GetElapsedTime(writtenAt, kv.Value).TotalMilliseconds).Order().ToArray();
                p50s.Add(delays[delays.Length / 2]);
                p99s.Add(delays[(int)(delays.Length * 0.99)]);
                maxes.Add(delays[^1]);
                bytes.Add(firsts.Sum(kv => received.GetValueOrDefault(kv.Key)));
                Console.WriteLine($"{label} change {change}: config write to all {watchers} watchers holding it: p50 {p50s[^1]:F0} ms, p99 {p99s[^1]:F0} ms, max {maxes[^1]:F0} ms, {bytes[^1] / 1e6:F1} MB to all");
                await Task.Delay(1000);
            }
            return (Median(p50s), Median(p99s), Median(maxes), Median(bytes));
        }

        var unscoped = await MeasureChangesAsync("unscoped");
        var p50s = new List<double> { unscoped.P50 };
        var p99s = new List<double> { unscoped.P99 };
        var maxes = new List<double> { unscoped.Max };
        var pids = cps.All.Select(c => c.Process.Id).ToArray();
        var cpuBefore = pids.Select(BenchProcess.CpuSeconds).ToArray();
        var etcdCpuBefore = etcd?.Pids.Sum(BenchProcess.CpuSeconds) ?? 0;
        using var metrics = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var writesBefore = etcd is null ? default : await etcd.CountersAsync(metrics);
        var beatsBefore = Interlocked.Read(ref heartbeats);
        var window = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(10));
        var seconds = window.Elapsed.TotalSeconds;
        var rate = (Interlocked.Read(ref heartbeats) - beatsBefore) / seconds;
        var cpu = pids.Select((pid, i) => (BenchProcess.CpuSeconds(pid) - cpuBefore[i]) / seconds).ToArray();
        var rss = pids.Select(BenchProcess.RssMb).ToArray();
        var writesAfter = etcd is null ? default : await etcd.CountersAsync(metrics);
        var etcdCpu = etcd is null ? 0 : (etcd.Pids.Sum(BenchProcess.CpuSeconds) - etcdCpuBefore) / seconds;
        row = $"| {run} | {watchers} | {instanceCount} | {Median(p50s):F0} ms | {Median(p99s):F0} ms | {Median(maxes):F0} ms | {rate:F0} | {Interlocked.Read(ref heartbeatErrors)} | {cps.LeasesExpired} | {Interlocked.Read(ref reregistrations)} | "
            + (etcd is null ? "- | - | " : $"{(writesAfter.Proposals - writesBefore.Proposals) / seconds:F0} | {(writesAfter.Puts - writesBefore.Puts) / seconds:F0} | ")
            + $"{string.Join(" / ", cpu.Select(c => c.ToString("F2")))} | {string.Join(" / ", rss.Select(r => r.ToString("F0")))} | {(etcd is null ? "-" : etcdCpu.ToString("F2"))} |";
        Console.WriteLine(row);
        if (firstError is not null)
        {
            Console.WriteLine($"first heartbeat error: {firstError}");
        }
        if (scoping)
        {
            var unscopedSize = await ScopingPhase.SnapshotSizeAsync(certificates[0], port, "svc-0");
            var withoutSidecars = await SteadyVersionAsync();
            File.WriteAllText(Path.Combine(configDir, "sidecars.yaml"), ScopingPhase.SidecarsYaml(services));
            await BenchProcess.WaitAsync(() => Task.FromResult(Enumerable.Range(0, watchers).All(w => Volatile.Read(ref current[w]) > withoutSidecars)), TimeSpan.FromMinutes(2));
            var scopedSize = await ScopingPhase.SnapshotSizeAsync(certificates[0], port, "svc-0");
            var scoped = await MeasureChangesAsync("scoped");
            Console.WriteLine();
            Console.WriteLine($"| {services} services × {instanceCount / services} instances, {watchers} watchers | snapshot JSON | gzip | write→all p50 (median of {changes}) | p99 | max | JSON to all watchers per change |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            Console.WriteLine($"| no Sidecar resource (everything visible) | {unscopedSize.Json / 1024.0:F0} KiB | {unscopedSize.Gzip / 1024.0:F0} KiB | {unscoped.P50:F0} ms | {unscoped.P99:F0} ms | {unscoped.Max:F0} ms | {unscoped.Bytes / 1e6:F2} MB |");
            Console.WriteLine($"| a Sidecar per service, {ScopingPhase.Calls} hosts each | {scopedSize.Json / 1024.0:F1} KiB | {scopedSize.Gzip / 1024.0:F1} KiB | {scoped.P50:F0} ms | {scoped.P99:F0} ms | {scoped.Max:F0} ms | {scoped.Bytes / 1e6:F2} MB |");
        }
        stop.Cancel();
        await Task.WhenAll(watching.Append(heartbeating)).ContinueWith(_ => { });
    }
    finally
    {
        cps.Dispose();
        etcd?.Dispose();
        Directory.Delete(work, recursive: true);
    }
    return row;
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
