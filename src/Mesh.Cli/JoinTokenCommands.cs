using System.Net.Http.Json;
using System.Text.Json;

namespace Mesh.Cli;

/// <summary>meshctl join-token create | list | revoke, against the admin API.</summary>
internal static class JoinTokenCommands
{
    public static async Task<int> CreateAsync(HttpClient http, string? service, string? ns, string? ttl, string? description, TextWriter output, TextWriter error)
    {
        using var response = await http.PostAsJsonAsync("/v1/join-tokens", new { service, @namespace = ns, ttl, description });
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

    public static async Task<int> ListAsync(HttpClient http, TextWriter output, TextWriter error)
    {
        using var response = await http.GetAsync("/v1/join-tokens");
        if (!await SucceededAsync(response, error))
        {
            return 1;
        }
        output.WriteLine($"{"ID",-14} {"SCOPE",-30} {"EXPIRES",-22} REVOKED");
        foreach (var t in (await response.Content.ReadFromJsonAsync<JsonElement[]>())!)
        {
            output.WriteLine($"{t.GetProperty("id").GetString(),-14} {Scope(t),-30} {Text(t, "expires"),-22} {Text(t, "revoked")}");
        }
        return 0;
    }

    public static async Task<int> RevokeAsync(HttpClient http, string id, TextWriter output, TextWriter error)
    {
        using var response = await http.DeleteAsync($"/v1/join-tokens/{Uri.EscapeDataString(id)}");
        if (!await SucceededAsync(response, error))
        {
            return 1;
        }
        output.WriteLine($"join token {id} revoked");
        return 0;
    }

    /// <summary>"ns/service", "ns/*" or "*".</summary>
    public static string Scope(JsonElement t) =>
        t.GetProperty("service").GetString() is { } s ? $"{t.GetProperty("namespace").GetString()}/{s}"
        : t.GetProperty("namespace").GetString() is { } ns ? $"{ns}/*" : "*";

    private static string Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "-";

    internal static async Task<bool> SucceededAsync(HttpResponseMessage response, TextWriter error)
    {
        if (response.IsSuccessStatusCode)
        {
            return true;
        }
        error.WriteLine($"meshctl: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return false;
    }
}
