using System.Runtime.InteropServices;
using Mesh.Core.Hosting;
using Mesh.Demo;

// The mesh demo: a control plane, the bookshop's services and a sidecar next to each, as processes on
// this machine. Ctrl-C (or SIGTERM) stops everything it started.
DemoOptions options;
try
{
    if (args.Any(a => a is "--help" or "-h"))
    {
        Console.Write(DemoOptions.Help());
        return 0;
    }
    options = DemoOptions.Parse(args);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"mesh-demo: {e.Message}");
    return Flags.UsageExitCode;
}

var topology = options.FreePorts ? DemoTopology.Free() : DemoTopology.WellKnown();
if (topology.FirstBusyPort() is { } busy)
{
    Console.Error.WriteLine($"mesh-demo: port {busy} on 127.0.0.1 is already in use (another demo running?); stop it or pass --free-ports");
    return 1;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    stop.Cancel();
});

var dataDir = options.DataDir is { } dir ? Directory.CreateDirectory(dir).FullName : Directory.CreateTempSubdirectory("mesh-demo-").FullName;
await using var demo = new DemoRun(options, topology, dataDir, Console.Out);
try
{
    await demo.StartAsync(stop.Token);
    if (options.Smoke)
    {
        await demo.SmokeTestAsync(stop.Token);
        Console.WriteLine("smoke test passed");
        return 0;
    }
    demo.PrintWelcome();
    await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
    Console.WriteLine();
    Console.WriteLine("stopping...");
    return 0;
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.WriteLine("stopping...");
    return 0;
}
catch (DemoException e)
{
    Console.Error.WriteLine($"mesh-demo: {e.Message}");
    return 1;
}
catch (HttpRequestException e)
{
    // A call of the smoke check (or of the start-up) that got no answer: say which, not a crash.
    Console.Error.WriteLine($"mesh-demo: a call through the mesh got no answer: {e.Message}; logs in {Path.Combine(dataDir, "logs")}");
    return 1;
}
