// A small app the end-to-end tests put behind sidecars. It says who answered, echoes what it got,
// and can be told to fail its health check.
var port = Arg("--port") ?? throw new ArgumentException("--port is required");
var name = Arg("--name") ?? "app";
var healthy = true;
var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
// Failure modes for resilience tests: answer 503 to a share of calls, or never answer.
var failRate = double.Parse(Arg("--fail-rate") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
var hang = args.Contains("--hang");
// --delay-ms N: every call waits N ms before it is answered, a far region's latency where tc netem is missing.
var delayMs = int.Parse(Arg("--delay-ms") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
// With --obey-x-fail, a request's x-fail header says how this instance fails it: a status code, or "reset".
var obeyFailHeader = args.Contains("--obey-x-fail");
var served = 0L;
var inFlight = 0;
var maxInFlight = 0;

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
// As large as the sidecar passes (60 KiB of headers), so a test sees the sidecar's limits, not the app's.
builder.WebHost.ConfigureKestrel(k =>
{
    k.Limits.MaxRequestHeadersTotalSize = 64 * 1024;
    k.Limits.MaxRequestLineSize = 16 * 1024;
    k.Limits.MaxRequestBodySize = null;
});
var app = builder.Build();
// Every request is remembered (host and path) so a test can ask what reached this app, e.g. a mirror copy.
app.Use((context, next) =>
{
    if (!context.Request.Path.StartsWithSegments("/admin") && !context.Request.Path.StartsWithSegments("/health"))
    {
        seen.Enqueue($"{context.Request.Host} {context.Request.Method} {context.Request.Path}");
    }
    return next(context);
});
app.MapGet("/admin/requests", () => Results.Text(string.Join("\n", seen)));
app.MapGet("/admin/stats", () => Results.Json(new { served = Interlocked.Read(ref served), maxInFlight = Volatile.Read(ref maxInFlight) }));
app.Use(async (context, next) =>
{
    if (context.Request.Path.StartsWithSegments("/admin") || context.Request.Path.StartsWithSegments("/health"))
    {
        await next(context);
        return;
    }
    Interlocked.Increment(ref served);
    var now = Interlocked.Increment(ref inFlight);
    int max;
    while (now > (max = Volatile.Read(ref maxInFlight)) && Interlocked.CompareExchange(ref maxInFlight, now, max) != max)
    {
    }
    try
    {
        if (obeyFailHeader && context.Request.Headers["x-fail"].ToString() is { Length: > 0 } fail)
        {
            if (fail == "reset")
            {
                context.Abort();
                return;
            }
            context.Response.StatusCode = int.Parse(fail, System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers["x-app"] = name;
            await context.Response.WriteAsync($"{name} failing with {fail} on request");
            return;
        }
        if (hang)
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }
        if (failRate > 0 && Random.Shared.NextDouble() < failRate)
        {
            context.Response.StatusCode = 503;
            context.Response.Headers["x-app"] = name;
            await context.Response.WriteAsync($"{name} failing on purpose");
            return;
        }
        if (delayMs > 0)
        {
            await Task.Delay(delayMs, context.RequestAborted);
        }
        await next(context);
    }
    finally
    {
        Interlocked.Decrement(ref inFlight);
    }
});
app.MapGet("/delay/{ms:int}", async (int ms, CancellationToken aborted) =>
{
    await Task.Delay(ms, aborted);
    return Results.Text($"{name} after {ms} ms");
});

app.MapGet("/health", () => healthy ? Results.Text("ok") : Results.StatusCode(503));
app.MapPost("/admin/health/{state}", (string state) =>
{
    healthy = state == "up";
    return Results.Text(healthy ? "up" : "down");
});
app.MapGet("/status/{code:int}", (int code) => Results.Text($"{name} status {code}", statusCode: code));
// ?delay=<ms> waits between chunks: a response a caller can walk away from halfway.
app.MapGet("/stream/{chunks:int}", async (HttpContext context, int chunks, int? delay) =>
{
    context.Response.Headers["x-app"] = name;
    for (var i = 0; i < chunks; i++)
    {
        if (i > 0 && delay is > 0)
        {
            await Task.Delay(delay.Value, context.RequestAborted);
        }
        await context.Response.WriteAsync($"chunk {i} from {name}\n");
        await context.Response.Body.FlushAsync();
    }
});
app.MapPost("/echo", async (HttpContext context) =>
{
    context.Response.Headers["x-app"] = name;
    context.Response.ContentType = context.Request.ContentType ?? "application/octet-stream";
    await context.Request.Body.CopyToAsync(context.Response.Body);
});
// What arrived, counted: a test sends large headers or bodies through the sidecars without echoing them back.
app.MapMethods("/count", ["GET", "POST", "PUT"], async (HttpContext context) =>
{
    var bodyBytes = 0L;
    var buffer = new byte[64 * 1024];
    int read;
    while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
    {
        bodyBytes += read;
    }
    var headers = context.Request.Headers;
    return Results.Json(new { headers = headers.Count, headerBytes = headers.Sum(h => h.Key.Length + h.Value.ToString().Length), bodyBytes });
});
app.MapFallback((HttpContext context) =>
{
    context.Response.Headers["x-app"] = name;
    context.Response.Headers["x-seen-host"] = context.Request.Host.Value;
    // Request headers named x-* come back as x-echo-*, so a test sees what the app received.
    foreach (var (header, value) in context.Request.Headers.Where(h => h.Key.StartsWith("x-", StringComparison.OrdinalIgnoreCase)))
    {
        context.Response.Headers["x-echo-" + header[2..].ToLowerInvariant()] = value;
    }
    return Results.Text($"{name} {context.Request.Method} {context.Request.Path}{context.Request.QueryString}");
});
app.Run();

string? Arg(string flag)
{
    var i = Array.IndexOf(args, flag);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
