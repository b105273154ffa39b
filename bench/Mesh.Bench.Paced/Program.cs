using System.Diagnostics;
using System.Globalization;

// Paced load: sends requests at a fixed rate and measures each one's latency from the moment it was
// scheduled, not from when it was sent, so a stall shows up in every request it delayed (no
// coordinated omission, as wrk2 does). Usage:
//   Mesh.Bench.Paced <url> <host-header> <requests-per-second> <seconds> [connections]
// Prints one line: rate=... sent=... errors=... p50=... p90=... p99=... max=... (milliseconds).
if (args.Length < 4)
{
    Console.Error.WriteLine("usage: Mesh.Bench.Paced <url> <host-header> <requests-per-second> <seconds> [connections]");
    return 2;
}
var url = new Uri(args[0]);
var host = args[1];
var rate = double.Parse(args[2], CultureInfo.InvariantCulture);
var seconds = double.Parse(args[3], CultureInfo.InvariantCulture);
var connections = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 64;

using var client = new HttpClient(new SocketsHttpHandler
{
    UseProxy = false,
    MaxConnectionsPerServer = connections,
    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
})
{ Timeout = TimeSpan.FromSeconds(10) };

// The first second warms up this process (JIT, connections) at the same rate; it is not counted.
var warmup = (int)rate;
var total = warmup + (int)(rate * seconds);
var latencies = new double[total];
var errors = 0;
var interval = Stopwatch.Frequency / rate;
var start = Stopwatch.GetTimestamp();
var inFlight = new List<Task>(total);
// The pacing loop sleeps until each request is due (nanosleep through usleep: ~50-100 µs late, counted in the
// latency like any other delay, the same for every configuration). It used to spin for the last 2 ms, which
// at 2,000 req/s kept one of this machine's two cores busy and starved the proxies being measured.
var pacer = new Thread(() =>
{
    for (var i = 0; i < total; i++)
    {
        var scheduled = start + (long)(i * interval);
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), scheduled);
        if (wait > TimeSpan.Zero)
        {
            _ = Native.usleep((uint)wait.TotalMicroseconds);
        }
        var index = i;
        inFlight.Add(Task.Run(async () =>
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.Host = host;
                using var response = await client.SendAsync(request);
                await response.Content.ReadAsByteArrayAsync();
                if (!response.IsSuccessStatusCode && index >= warmup)
                {
                    Interlocked.Increment(ref errors);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                if (index >= warmup)
                {
                    Interlocked.Increment(ref errors);
                }
            }
            latencies[index] = Stopwatch.GetElapsedTime(scheduled).TotalMilliseconds;
        }));
    }
}) { IsBackground = true, Name = "pacer" };
pacer.Start();
pacer.Join();
await Task.WhenAll(inFlight);
var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
latencies = latencies[warmup..];
Array.Sort(latencies);
double At(double p) => latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * p))];
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"rate={total / elapsed:F0} sent={latencies.Length} errors={errors} p50={At(0.5):F3} p90={At(0.9):F3} p99={At(0.99):F3} max={latencies[^1]:F3}"));
return 0;

internal static class Native
{
    [System.Runtime.InteropServices.DllImport("libc")]
    internal static extern int usleep(uint microseconds);
}
