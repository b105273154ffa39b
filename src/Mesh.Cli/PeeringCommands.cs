using System.Net.Http.Json;
using System.Text.Json;

namespace Mesh.Cli;

/// <summary>meshctl peering generate-token | establish | list | delete, against the admin API (Consul's peering verbs).</summary>
internal static class PeeringCommands
{
    public static async Task<int> GenerateTokenAsync(HttpClient http, string peer, TextWriter output, TextWriter error)
    {
        using var response = await http.PostAsJsonAsync("/v1/peerings/token", new { peer });
        if (!await JoinTokenCommands.SucceededAsync(response, error))
        {
            return 1;
        }
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        // Only the token on stdout, so it can be piped or put in a file for the other region.
        output.WriteLine(created.RootElement.GetProperty("token").GetString());
        error.WriteLine($"peering token for '{peer}' generated; run meshctl peering establish --peer <name for this region> --token <it> on the other region's control plane");
        return 0;
    }

    public static async Task<int> EstablishAsync(HttpClient http, string peer, string token, TextWriter output, TextWriter error)
    {
        using var response = await http.PostAsJsonAsync("/v1/peerings/establish", new { peer, token = token.Trim() });
        if (!await JoinTokenCommands.SucceededAsync(response, error))
        {
            return 1;
        }
        using var established = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var e = established.RootElement;
        output.WriteLine($"peering '{peer}' established: trust domain {e.GetProperty("trustDomain").GetString()}, region {e.GetProperty("region").GetString()}");
        return 0;
    }

    public static async Task<int> ListAsync(Admin admin, CancellationToken cancel)
    {
        if (await admin.GetAsync("/v1/peerings", cancel) is not { } peerings)
        {
            return 1;
        }
        if (admin.PrintStructured(peerings))
        {
            return 0;
        }
        Console.WriteLine($"{"NAME",-16} {"ROLE",-9} {"STATE",-8} {"TRUST DOMAIN",-24} {"REGION",-12} {"EXPORTED",8} {"IMPORTED",8} {"HEALTHY",8} {"STALE",-6} LAST SYNC");
        foreach (var p in peerings.EnumerateArray())
        {
            Console.WriteLine($"{Text(p, "name"),-16} {Text(p, "role"),-9} {Text(p, "state"),-8} {Text(p, "trustDomain"),-24} {Text(p, "region"),-12} " +
                $"{p.GetProperty("exportedServices").GetInt32(),8} {p.GetProperty("importedInstances").GetInt32(),8} {p.GetProperty("healthyImported").GetInt32(),8} " +
                $"{(p.GetProperty("stale").GetBoolean() ? "yes" : "no"),-6} {Text(p, "lastSync")}");
        }
        return 0;
    }

    public static async Task<int> DeleteAsync(HttpClient http, string peer, TextWriter output, TextWriter error)
    {
        using var response = await http.DeleteAsync($"/v1/peerings/{Uri.EscapeDataString(peer)}");
        if (!await JoinTokenCommands.SucceededAsync(response, error))
        {
            return 1;
        }
        output.WriteLine($"peering '{peer}' deleted");
        return 0;
    }

    private static string Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "-";
}
