using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The stock npm client eureka-js-client (4.5.0, <c>clients/eureka/</c>) in a Node process, driven by
/// <c>client.js</c>: one command a line on stdin, one JSON answer a line on stdout.
/// </summary>
internal sealed class EurekaJsClient : IAsyncDisposable
{
    public static string Directory => Path.Combine(RepoPaths.Root, "tests", "Mesh.EndToEnd.Tests", "clients", "eureka");

    private static readonly SemaphoreSlim Install = new(1);
    private readonly Process _process;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly ConcurrentQueue<string> _log = new();
    private int _next;

    private EurekaJsClient(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }
    public string Output => string.Join('\n', _log);

    /// <summary><c>npm ci</c> once per test run when <c>.ci/run</c> has not done it (the registry copy works offline).</summary>
    public static async Task EnsureInstalledAsync()
    {
        await Install.WaitAsync().ConfigureAwait(false);
        try
        {
            if (File.Exists(Path.Combine(Directory, "node_modules", "eureka-js-client", "package.json")))
            {
                return;
            }
            var npm = new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund"]) { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(npm)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().ConfigureAwait(false);
            Assert.True(process.ExitCode == 0, $"npm ci in {Directory} failed: {await output.ConfigureAwait(false)}{await error.ConfigureAwait(false)}");
        }
        finally
        {
            Install.Release();
        }
    }

    /// <summary>Starts Node with eureka-js-client's config (<c>instance</c> and <c>eureka</c> sections); call <see cref="StartAsync"/> to register.</summary>
    public static async Task<EurekaJsClient> LaunchAsync(string name, JsonObject config)
    {
        await EnsureInstalledAsync().ConfigureAwait(false);
        var info = new ProcessStartInfo("node", [Path.Combine(Directory, "client.js"), config.ToJsonString()])
        {
            WorkingDirectory = Directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var client = new EurekaJsClient(name, process);
        process.OutputDataReceived += (_, e) => client.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                client._log.Enqueue(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return client;
    }

    /// <summary>eureka-js-client's <c>start()</c>: register, heartbeats, registry fetches; the error it calls back with, or null.</summary>
    public async Task<string?> StartAsync() => Error(await SendAsync("start").ConfigureAwait(false));

    /// <summary><c>stop()</c>: deregisters (cancel) and stops fetching.</summary>
    public async Task<string?> StopAsync() => Error(await SendAsync("stop").ConfigureAwait(false));

    /// <summary><c>getInstancesByAppId(app)</c> from the client's cache (UP instances only, the client's default filter).</summary>
    public async Task<JsonElement[]> InstancesAsync(string app) =>
        [.. (await SendAsync($"instances {app}").ConfigureAwait(false)).GetProperty("instances").EnumerateArray()];

    /// <summary>Waits until a registry fetch leaves <paramref name="count"/> UP instances of the app in the cache; when that fetch ended (Unix ms).</summary>
    public async Task<long> AwaitCountAsync(string app, int count, TimeSpan timeout)
    {
        var answer = await SendAsync($"await-count {app} {count}", timeout).ConfigureAwait(false);
        return answer.GetProperty("at").GetInt64();
    }

    /// <summary>PUT (or, with null, DELETE) this client's <c>/status</c> override on its Eureka server; the HTTP status.</summary>
    public async Task<int> SetStatusAsync(string? value) =>
        (await SendAsync(value is null ? "clear-status" : $"status {value}").ConfigureAwait(false)).GetProperty("status").GetInt32();

    public Task StopHeartbeatsAsync() => SendAsync("stop-heartbeats");

    private static string? Error(JsonElement answer) => answer.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;

    private async Task<JsonElement> SendAsync(string command, TimeSpan? timeout = null)
    {
        var id = Interlocked.Increment(ref _next).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        await _process.StandardInput.WriteLineAsync($"{id} {command}").ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
        try
        {
            return await answer.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Name}: no answer to '{command}' within {(timeout ?? TimeSpan.FromSeconds(30)).TotalSeconds} s\n{Output}");
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        _log.Enqueue(line);
        try
        {
            var answer = JsonDocument.Parse(line).RootElement;
            if (answer.TryGetProperty("id", out var id) && _pending.TryRemove(id.GetString()!, out var waiter))
            {
                waiter.TrySetResult(answer);
            }
        }
        catch (JsonException)
        {
            // A line that is not an answer (Node's own warnings): kept in the output only.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        _process.Dispose();
    }
}
