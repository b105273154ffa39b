using System.Diagnostics;
using System.Net.Http.Json;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;
using Microsoft.Playwright;

// The cost of the dashboard to the control plane. Starts a real control plane, registers --services
// services of --instances instances each, heart-beating every 2 s with traffic reports (two callers per
// service, so golden signals and the graph have --services rows and twice as many edges), flips one
// instance's health every 5 s (a snapshot event the page follows). Then measures the control plane's CPU
// and RSS for --seconds with no page open, and again with --pages signed-in pages in headless Chromium,
// and the bytes the pages read. Usage (Debian's chromium):
//   dotnet run -c Release --project bench/Mesh.Bench.Dashboard -- [--services 50] [--instances 2] [--pages 1] [--seconds 30] [--rounds 3]
var services = BenchProcess.Arg(args, "--services", 50);
var perService = BenchProcess.Arg(args, "--instances", 2);
var pages = BenchProcess.Arg(args, "--pages", 1);
var seconds = BenchProcess.Arg(args, "--seconds", 30);
var rounds = BenchProcess.Arg(args, "--rounds", 3);
const string Chromium = "/usr/bin/chromium";

var root = BenchProcess.FindRoot();
var work = Directory.CreateTempSubdirectory("mesh-dashboard-bench-").FullName;
var port = BenchProcess.FreePort();
var adminPort = BenchProcess.FreePort();
var cp = Process.Start(new ProcessStartInfo("dotnet")
{
    ArgumentList = { Path.Combine(root, "src", "Mesh.ControlPlane", "bin", "Release", "net10.0", "Mesh.ControlPlane.dll"),
        "--config-dir", Directory.CreateDirectory(Path.Combine(work, "config")).FullName, "--data-dir", Path.Combine(work, "data"),
        "--port", port.ToString(), "--admin-port", adminPort.ToString(), "--listen", "127.0.0.1" },
    RedirectStandardOutput = true,
    RedirectStandardError = true,
})!;
cp.OutputDataReceived += (_, _) => { };
cp.ErrorDataReceived += (_, _) => { };
cp.BeginOutputReadLine();
cp.BeginErrorReadLine();
using var stop = new CancellationTokenSource();
try
{
    using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}") };
    await BenchProcess.WaitAsync(async () => (await admin.GetAsync("/ready")).IsSuccessStatusCode);
    var adminToken = File.ReadAllText(Path.Combine(work, "data", "admin-token")).Trim();
    admin.DefaultRequestHeaders.Authorization = new("Bearer", adminToken);

    // One workload certificate per service, as its sidecars would have (a service may renew only its own instances).
    using var joinResponse = await admin.PostAsJsonAsync("/v1/join-tokens", new { description = "dashboard bench" });
    var joinToken = System.Text.Json.JsonDocument.Parse(await joinResponse.EnsureSuccessStatusCode().Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
    var trustAll = new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } }; // loopback, throwaway CA
    using var bootstrap = new HttpClient(trustAll) { BaseAddress = new Uri($"https://127.0.0.1:{port}") };
    var clients = new HttpClient[services];
    for (var s = 0; s < services; s++)
    {
        var (key, csr) = Mesh.Core.Security.WorkloadCertificates.CreateRequest(new Mesh.Core.Security.SpiffeId("cluster.local", "default", $"svc-{s}"));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/certificates") { Content = JsonContent.Create(new { csr }) };
        request.Headers.Authorization = new("Bearer", joinToken);
        using var issued = await bootstrap.SendAsync(request);
        var pem = System.Text.Json.JsonDocument.Parse(await issued.EnsureSuccessStatusCode().Content.ReadAsStringAsync()).RootElement.GetProperty("certificate").GetString()!;
        var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(pem, key.ExportPkcs8PrivateKeyPem());
        clients[s] = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true, LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate },
        }) { BaseAddress = new Uri($"https://127.0.0.1:{port}") };
    }
    var instances = (from s in Enumerable.Range(0, services) from i in Enumerable.Range(0, perService) select (Service: s, Id: $"svc-{s}-{i}")).ToArray();
    foreach (var (s, id) in instances)
    {
        using var registered = await clients[s].PostAsJsonAsync("/v1/register", new Registration
        {
            InstanceId = id, Service = $"svc-{s}", Address = "127.0.0.1", Port = 20000 + instances.Length, Health = HealthStatus.Healthy,
            Labels = new Dictionary<string, string> { ["version"] = "v1" }, Zone = "zone-a", Region = "region-1",
        }, MeshJson.Options);
        registered.EnsureSuccessStatusCode();
    }

    // Heart-beating with traffic: each instance is called by the two previous services at ~20 calls/s, 1% failing.
    var beat = 0L;
    var heartbeating = Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            var round = Stopwatch.StartNew();
            var n = Interlocked.Increment(ref beat);
            await Parallel.ForEachAsync(instances, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (instance, _) =>
            {
                var callers = new[] { (instance.Service + services - 1) % services, (instance.Service + services - 2) % services };
                var report = new TrafficReport([.. callers.Select(c => Counter($"svc-{c}.default", n * 20))]);
                // One instance flips between healthy and unhealthy every 5 s: a snapshot the page follows.
                var health = instance.Id == "svc-0-0" && n / 3 % 2 == 1 ? HealthStatus.Unhealthy : HealthStatus.Healthy;
                using var response = await clients[instance.Service].PutAsJsonAsync($"/v1/instances/{instance.Id}/heartbeat", new Heartbeat(health, report), MeshJson.Options);
                response.EnsureSuccessStatusCode();
            });
            await Task.Delay(TimeSpan.FromSeconds(2) - round.Elapsed is { Ticks: > 0 } rest ? rest : TimeSpan.Zero);
        }
    });
    await Task.Delay(TimeSpan.FromSeconds(8)); // three reports each: rates exist

    using var playwright = await Playwright.CreateAsync();
    await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
    // Warm-up: the control plane's first page (JIT, first reads) is not what an open page costs.
    var warm = await browser.NewPageAsync();
    await warm.GotoAsync($"http://127.0.0.1:{adminPort}/ui");
    await warm.FillAsync("input[name=token]", adminToken);
    await warm.ClickAsync("#sign-in button[type=submit]");
    await Assertions.Expect(warm.Locator("#signals tbody tr")).ToHaveCountAsync(services, new() { Timeout = 30_000 });
    await Task.Delay(TimeSpan.FromSeconds(10));
    await warm.CloseAsync();
    var results = new List<(double IdleCpu, double PageCpu, double IdleRss, double PageRss, double BytesPerSecond)>();
    for (var r = 1; r <= rounds; r++)
    {
        var (idleCpu, idleRss) = await MeasureAsync(seconds);
        long bytes = 0;
        var open = new List<IPage>();
        for (var p = 0; p < pages; p++)
        {
            var page = await browser.NewPageAsync();
            page.RequestFinished += async (_, request) =>
            {
                var sizes = await request.SizesAsync();
                Interlocked.Add(ref bytes, sizes.ResponseBodySize + sizes.ResponseHeadersSize);
            };
            await page.GotoAsync($"http://127.0.0.1:{adminPort}/ui");
            await page.FillAsync("input[name=token]", adminToken);
            await page.ClickAsync("#sign-in button[type=submit]");
            await Assertions.Expect(page.Locator("#signals tbody tr")).ToHaveCountAsync(services, new() { Timeout = 30_000 });
            await Assertions.Expect(page.Locator("#graph [data-node]")).ToHaveCountAsync(services);
            open.Add(page);
        }
        Interlocked.Exchange(ref bytes, 0);
        var (pageCpu, pageRss) = await MeasureAsync(seconds);
        var perSecond = Interlocked.Read(ref bytes) / (double)seconds;
        foreach (var page in open)
        {
            await page.CloseAsync();
        }
        results.Add((idleCpu, pageCpu, idleRss, pageRss, perSecond));
        Console.WriteLine($"round {r}: control plane {idleCpu:F1} ms CPU/s with no page, {pageCpu:F1} ms/s with {pages}; RSS {idleRss:F0} → {pageRss:F0} MB; pages read {perSecond / 1024:F1} KiB/s (finished requests; the event stream's bytes not counted)");
    }
    var deltas = results.Select(x => (x.PageCpu - x.IdleCpu) / pages).Order().ToArray();
    Console.WriteLine();
    Console.WriteLine($"| services | instances | pages | CP CPU, no page (ms/s) | with pages | added per page (median, min-max over {rounds}) | RSS no page → pages (MB) | read per page (KiB/s) |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|");
    Console.WriteLine($"| {services} | {instances.Length} | {pages} | {Median(results.Select(x => x.IdleCpu)):F1} | {Median(results.Select(x => x.PageCpu)):F1} | {deltas[deltas.Length / 2]:F1} ({deltas[0]:F1} to {deltas[^1]:F1}) | {Median(results.Select(x => x.IdleRss)):F0} → {Median(results.Select(x => x.PageRss)):F0} | {Median(results.Select(x => x.BytesPerSecond)) / 1024 / pages:F1} |");
    stop.Cancel();
    await heartbeating.ContinueWith(_ => { });
}
finally
{
    stop.Cancel();
    cp.Kill();
    await cp.WaitForExitAsync();
    Directory.Delete(work, recursive: true);
}
return 0;

// The control plane's CPU (ms per second) over the next `span` seconds and its RSS at the end.
async Task<(double CpuMsPerSecond, double RssMb)> MeasureAsync(int span)
{
    var before = BenchProcess.CpuSeconds(cp.Id);
    var clock = Stopwatch.StartNew();
    await Task.Delay(TimeSpan.FromSeconds(span));
    return ((BenchProcess.CpuSeconds(cp.Id) - before) * 1000 / clock.Elapsed.TotalSeconds, BenchProcess.RssMb(cp.Id));
}

static TrafficCounter Counter(string source, long requests)
{
    var buckets = new long[LatencyBuckets.Count];
    buckets[LatencyBuckets.IndexOf(3)] = requests * 9 / 10;
    buckets[LatencyBuckets.IndexOf(40)] = requests - requests * 9 / 10;
    return new TrafficCounter(source, requests, requests / 100, buckets);
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}
