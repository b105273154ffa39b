using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Core.Hosting;

namespace Mesh.Cli;

/// <summary>meshctl join-token create | list | revoke, against the admin API.</summary>
internal static class JoinTokenCommands
{
    public static async Task<int> RunAsync(HttpClient http, string[] args, TextWriter output, TextWriter error)
    {
        switch (args.FirstOrDefault())
        {
            case "create":
                var flags = new Dictionary<string, string>(StringComparer.Ordinal);
                for (var i = 1; i < args.Length; i += 2)
                {
                    if (args[i] is not ("--service" or "--namespace" or "--ttl" or "--description") || i + 1 >= args.Length)
                    {
                        error.WriteLine($"meshctl: join-token create takes --service, --namespace, --ttl and --description with a value; got '{args[i]}'");
                        return CommandLine.UsageExitCode;
                    }
                    flags[args[i][2..]] = args[i + 1];
                }
                using (var response = await http.PostAsJsonAsync("/v1/join-tokens", new
                {
                    service = flags.GetValueOrDefault("service"),
                    @namespace = flags.GetValueOrDefault("namespace"),
                    ttl = flags.GetValueOrDefault("ttl"),
                    description = flags.GetValueOrDefault("description"),
                }))
                {
                    if (!await SucceededAsync(response, error))
                    {
                        return 1;
                    }
                    using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                    // Only the token on stdout, so it can go straight into a file; the rest to stderr.
                    output.WriteLine(created.RootElement.GetProperty("token").GetString());
                    error.WriteLine($"join token {created.RootElement.GetProperty("id").GetString()} created; it is shown only now");
                    return 0;
                }
            case "list":
                using (var response = await http.GetAsync("/v1/join-tokens"))
                {
                    if (!await SucceededAsync(response, error))
                    {
                        return 1;
                    }
                    output.WriteLine($"{"ID",-14} {"SCOPE",-30} {"EXPIRES",-22} REVOKED");
                    foreach (var t in (await response.Content.ReadFromJsonAsync<JsonElement[]>())!)
                    {
                        var scope = t.GetProperty("service").GetString() is { } s ? $"{t.GetProperty("namespace").GetString()}/{s}"
                            : t.GetProperty("namespace").GetString() is { } ns ? $"{ns}/*" : "*";
                        output.WriteLine($"{t.GetProperty("id").GetString(),-14} {scope,-30} {Text(t, "expires"),-22} {Text(t, "revoked")}");
                    }
                    return 0;
                }
            case "revoke" when args.Length == 2:
                using (var response = await http.DeleteAsync($"/v1/join-tokens/{Uri.EscapeDataString(args[1])}"))
                {
                    if (!await SucceededAsync(response, error))
                    {
                        return 1;
                    }
                    output.WriteLine($"join token {args[1]} revoked");
                    return 0;
                }
            default:
                error.WriteLine("meshctl: join-token expects create [--service S] [--namespace N] [--ttl D], list, or revoke ID");
                return CommandLine.UsageExitCode;
        }
    }

    private static string Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "-";

    private static async Task<bool> SucceededAsync(HttpResponseMessage response, TextWriter error)
    {
        if (response.IsSuccessStatusCode)
        {
            return true;
        }
        error.WriteLine($"meshctl: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return false;
    }
}
