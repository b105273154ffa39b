using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>A real child process (control plane, sidecar or app) whose output is kept for assertions and failure reports.</summary>
internal sealed class MeshProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private MeshProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public string Output => string.Join('\n', _lines);

    public static MeshProcess StartDll(string name, string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? netns = null)
    {
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{dll} is not built; run 'dotnet build Mesh.sln' first", dll);
        }
        return Start(name, "dotnet", [dll, .. args], environment, netns);
    }

    /// <summary>
    /// Starts an executable (e.g. the native sidecar) or, through <see cref="StartDll"/>, a .NET app; in network
    /// namespace <paramref name="netns"/> when given (<c>ip netns exec</c> execs it, so the process id is its own).
    /// </summary>
    public static MeshProcess Start(string name, string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? netns = null)
    {
        if (netns is not null)
        {
            (fileName, args) = ("ip", ["netns", "exec", netns, fileName, .. args]);
        }
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["DOTNET_gcServer"] = "0"; // many small processes on a 2-core machine
        info.Environment["DOTNET_TieredPGO"] = "0";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var result = new MeshProcess(name, process);
        process.OutputDataReceived += (_, e) => result.Add(e.Data);
        process.ErrorDataReceived += (_, e) => result.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>SIGKILL: the process gets no chance to deregister or flush anything.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    /// <summary>Sends a signal by name (STOP, CONT, ...): SIGSTOP freezes the process with its sockets open.</summary>
    public void Signal(string name)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", [$"-{name}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }
    }

    /// <summary>SIGTERM: a graceful stop.</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        return _process.ExitCode;
    }

    public bool HasLogged(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            _lines.Enqueue(line);
        }
    }
}
