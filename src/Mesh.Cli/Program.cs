using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Cli;
using Mesh.Core.Hosting;

// meshctl: checks config offline and talks to the control plane's admin API.
const string Usage = """
    usage: meshctl [--admin http://127.0.0.1:15014] [--token-file FILE] <command>
    The admin API needs the control plane's admin token: --token-file FILE (the control plane writes
    it to <data-dir>/admin-token), or the MESH_ADMIN_TOKEN environment variable.
    commands:
      proxy-status                   every sidecar and whether it applied the current version
      validate PATH...               check VirtualService/DestinationRule/ServiceEntry YAML offline
                                     (files or directories); exit 1 if any error
      validate --remote FILE...      check files against the running control plane (POST /v1/validate)
      apply -f FILE...               apply resources as kubectl apply does: each replaces the resource
                                     of the same kind, namespace and name (POST /v1/apply)
      delete -f FILE...              remove resources applied with apply (POST /v1/delete)
      join-token create [--service S] [--namespace N] [--ttl 24h] [--description TEXT]
                                     make a join token for sidecars (printed once; scoped to a
                                     service when --service is given)
      join-token list                tokens by id, scope, expiry and revocation (never the secret)
      join-token revoke ID           revoke a token: it gets no more certificates
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
string? token = Environment.GetEnvironmentVariable("MESH_ADMIN_TOKEN");
var tokenAt = rest.IndexOf("--token-file");
if (tokenAt >= 0)
{
    if (tokenAt + 1 >= rest.Count || !File.Exists(rest[tokenAt + 1]))
    {
        Console.Error.WriteLine("meshctl: --token-file expects the admin token file (<data-dir>/admin-token of the control plane)");
        return CommandLine.UsageExitCode;
    }
    token = File.ReadAllText(rest[tokenAt + 1]).Trim();
    rest.RemoveRange(tokenAt, 2);
}
if (rest.Count == 0 || rest[0] is "--help" or "help")
{
    Console.Write(Usage);
    return rest.Count == 0 ? CommandLine.UsageExitCode : 0;
}

if (rest[0] is "validate" or "apply" or "delete")
{
    var command = rest[0];
    var remote = rest.Remove("--remote") || command != "validate";
    var paths = rest.Skip(1).Where(a => a != "-f").ToArray();
    if (paths.Length == 0)
    {
        Console.Error.WriteLine($"meshctl: {command} expects at least one file{(command == "validate" ? " or directory" : " (-f FILE)")}");
        return CommandLine.UsageExitCode;
    }
    if (!remote)
    {
        return ConfigCommands.ValidateOffline(paths, Console.Out);
    }
    using var adminClient = AdminClient(admin, token, TimeSpan.FromSeconds(30));
    return command switch
    {
        "apply" => await ConfigCommands.SendAsync(adminClient, "/v1/apply", "configured", paths, Console.Out),
        "delete" => await ConfigCommands.SendAsync(adminClient, "/v1/delete", "deleted", paths, Console.Out),
        _ => await ConfigCommands.SendAsync(adminClient, "/v1/validate", "valid", paths, Console.Out),
    };
}

using var http = AdminClient(admin, token, TimeSpan.FromSeconds(10));
switch (rest[0])
{
    case "join-token":
        return await JoinTokenCommands.RunAsync(http, rest.Skip(1).ToArray(), Console.Out, Console.Error);
    case "proxy-status":
        using (var response = await http.GetAsync("/v1/proxy-status"))
        {
            if (!response.IsSuccessStatusCode)
            {
                Console.Error.WriteLine($"meshctl: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                return 1;
            }
        }
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

static HttpClient AdminClient(Uri admin, string? token, TimeSpan timeout)
{
    var client = new HttpClient { BaseAddress = admin, Timeout = timeout };
    if (token is { Length: > 0 })
    {
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
    }
    return client;
}
