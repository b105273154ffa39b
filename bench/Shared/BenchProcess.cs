using System.Diagnostics;

/// <summary>What the control-plane benchmarks share: the repository, free ports, waiting, and a process's CPU and RSS from /proc.</summary>
internal static class BenchProcess
{
    /// <summary>A process's user + system CPU time in seconds (USER_HZ is 100: 10 ms resolution).</summary>
    public static double CpuSeconds(int pid)
    {
        var fields = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;
    }

    public static double RssMb(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0).First();

    /// <summary>Polls until <paramref name="probe"/> holds (connection errors count as not yet), or throws after the timeout.</summary>
    public static async Task WaitAsync(Func<Task<bool>> probe, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < (timeout ?? TimeSpan.FromSeconds(30)))
        {
            try
            {
                if (await probe())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("the control plane did not get there in time");
    }

    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Mesh.sln not found");
    }

    /// <summary>The integer after <paramref name="name"/> in <paramref name="args"/>, or the fallback.</summary>
    public static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    }
}
