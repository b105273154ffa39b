using System.Diagnostics;

namespace Shop.Common;

/// <summary>
/// The frame of an example service: <c>--port</c> (and optional <c>--version</c>) flags, a
/// <c>/health</c> endpoint for the sidecar's checks, and an <see cref="HttpClient"/> that calls other
/// services by name. The client follows <c>HTTP_PROXY</c>, which the demo points at the service's
/// own sidecar: the app knows nothing about the mesh except that one variable.
/// </summary>
public static class ShopApp
{
    public static WebApplication Create(string service, string[] args, out string version)
    {
        var port = Flag(args, "--port") ?? throw new ArgumentException($"{service}: --port is required");
        version = Flag(args, "--version") ?? "v1";
        var listen = Flag(args, "--listen") ?? "127.0.0.1"; // 0.0.0.0 in a container whose port is published

        // Trace context is forwarded by hand from the inbound request (see TraceHeaders), as Istio
        // asks of apps; the runtime's automatic injection is switched off so the two never disagree.
        DistributedContextPropagator.Current = DistributedContextPropagator.CreateNoOutputPropagator();

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);
        builder.WebHost.UseUrls($"http://{listen}:{port}");
        builder.Services.AddHttpClient("mesh", c => c.Timeout = TimeSpan.FromSeconds(10));
        var app = builder.Build();
        app.MapGet("/health", () => Results.Text("ok"));
        return app;
    }

    /// <summary>Calls <paramref name="url"/> (e.g. <c>http://reviews/reviews/1</c>) through the sidecar, forwarding the trace headers of <paramref name="inbound"/>.</summary>
    public static async Task<(int Status, string Body)> CallAsync(HttpContext inbound, string url)
    {
        var client = inbound.RequestServices.GetRequiredService<IHttpClientFactory>().CreateClient("mesh");
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        TraceHeaders.Forward(inbound.Request.Headers, request.Headers);
        try
        {
            using var response = await client.SendAsync(request, inbound.RequestAborted).ConfigureAwait(false);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(inbound.RequestAborted).ConfigureAwait(false));
        }
        catch (HttpRequestException e)
        {
            return (502, e.Message);
        }
        catch (TaskCanceledException) when (!inbound.RequestAborted.IsCancellationRequested)
        {
            return (504, "timed out");
        }
    }

    private static string? Flag(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
