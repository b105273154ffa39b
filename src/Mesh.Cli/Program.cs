using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Cli;
using Mesh.Core.Hosting;

// meshctl: checks config offline and talks to the control plane's admin API.
const string Usage = """
    usage: meshctl [--admin http://127.0.0.1:15014] <command>
    commands:
      proxy-status                   every sidecar and whether it applied the current version
      validate PATH...               check VirtualService/DestinationRule/ServiceEntry YAML offline
                                     (files or directories); exit 1 if any error
      validate --remote FILE...      check files against the running control plane (POST /v1/validate)
    """;

var admin = new Uri("http://127.0.0.1:15014");
var rest = new List<string>(args);
var at = rest.IndexOf("--admin");
if (at >= 0)
{
    if (at + 1 >= rest.Count || !Uri.TryCreate(rest[at + 1], UriKind.Absolute, out admin!))
    {
        Console.Error.WriteLine("meshctl: --admin expects a URL like http://127.0.0.1:15014");
        return CommandLine.UsageExitCode;
    }
    rest.RemoveRange(at, 2);
}
if (rest.Count == 0 || rest[0] is "--help" or "help")
{
    Console.Write(Usage);
    return rest.Count == 0 ? CommandLine.UsageExitCode : 0;
}

if (rest[0] == "validate")
{
    var remote = rest.Remove("--remote");
    var paths = rest.Skip(1).ToArray();
    if (paths.Length == 0)
    {
        Console.Error.WriteLine("meshctl: validate expects at least one file or directory");
        return CommandLine.UsageExitCode;
    }
    if (!remote)
    {
        return ValidateCommand.RunOffline(paths, Console.Out);
    }
    using var adminClient = new HttpClient { BaseAddress = admin, Timeout = TimeSpan.FromSeconds(10) };
    return await ValidateCommand.RunRemoteAsync(adminClient, paths, Console.Out);
}

using var http = new HttpClient { BaseAddress = admin, Timeout = TimeSpan.FromSeconds(10) };
switch (rest[0])
{
    case "proxy-status":
        var statuses = await http.GetFromJsonAsync<JsonElement[]>("/v1/proxy-status");
        Console.WriteLine($"{"NODE",-40} {"SERVICE",-20} {"APPLIED",8} {"CURRENT",8} STATUS");
        foreach (var s in statuses ?? [])
        {
            Console.WriteLine($"{s.GetProperty("node").GetString(),-40} {s.GetProperty("service").GetString(),-20} {s.GetProperty("appliedVersion").GetInt64(),8} {s.GetProperty("currentVersion").GetInt64(),8} {s.GetProperty("status").GetString()}");
        }
        return 0;
    default:
        Console.Error.WriteLine($"meshctl: unknown command '{rest[0]}'");
        Console.Error.Write(Usage);
        return CommandLine.UsageExitCode;
}
