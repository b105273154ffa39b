using System.Net.Http.Json;
using System.Text.Json;

namespace Mesh.Cli;

/// <summary>meshctl history | diff A [B] | rollback V, against the admin API's config history.</summary>
internal static class HistoryCommands
{
    public static async Task<int> HistoryAsync(Admin admin, CancellationToken cancel)
    {
        if (await admin.GetAsync("/v1/config/history", cancel) is not { } history)
        {
            return 1;
        }
        if (admin.PrintStructured(history))
        {
            return 0;
        }
        var current = history.GetProperty("current").GetInt64();
        Console.WriteLine($"{"VERSION",8}  {"WHEN (UTC)",-19}  {"HOW",-14}  {"WHO",-24}  CHANGES");
        foreach (var v in history.GetProperty("versions").EnumerateArray())
        {
            var version = v.GetProperty("version").GetInt64();
            var how = v.GetProperty("how").GetString() + (v.TryGetProperty("rolledBackTo", out var to) ? $" to {to.GetInt64()}" : "");
            var at = v.GetProperty("at").GetDateTimeOffset().UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
            Console.WriteLine($"{(version == current ? "*" : "") + version,8}  {at,-19}  {how,-14}  {v.GetProperty("who").GetString(),-24}  {Changes(v.GetProperty("changes"))}");
        }
        Console.WriteLine($"* the running version; the newest {history.GetProperty("capacity").GetInt64()} are kept");
        return 0;
    }

    public static async Task<int> DiffAsync(Admin admin, long from, long? to, CancellationToken cancel)
    {
        if (await admin.GetAsync($"/v1/config/diff?from={from}{(to is { } t ? $"&to={t}" : "")}", cancel) is not { } diff)
        {
            return 1;
        }
        if (admin.PrintStructured(diff))
        {
            return 0;
        }
        var resources = diff.GetProperty("resources");
        Console.WriteLine($"config version {diff.GetProperty("from").GetInt64()} to {diff.GetProperty("to").GetInt64()}: {resources.GetArrayLength()} resource(s) differ");
        foreach (var r in resources.EnumerateArray())
        {
            Console.WriteLine($"{r.GetProperty("change").GetString()}: {r.GetProperty("kind").GetString()} {r.GetProperty("namespace").GetString()}/{r.GetProperty("name").GetString()}");
            Console.Write(r.GetProperty("diff").GetString());
        }
        return 0;
    }

    /// <summary>Shows what the rollback changes, asks unless <paramref name="yes"/>, then rolls back.</summary>
    public static async Task<int> RollbackAsync(Admin admin, long version, bool yes, TextReader input, CancellationToken cancel)
    {
        if (!yes)
        {
            if (await admin.GetAsync("/v1/config", cancel) is not { } running
                || await admin.GetAsync($"/v1/config/diff?from={running.GetProperty("version").GetInt64()}&to={version}", cancel) is not { } diff)
            {
                return 1;
            }
            var changes = diff.GetProperty("resources").EnumerateArray().Select(Planned).ToArray();
            Console.Error.WriteLine($"Roll back from config version {diff.GetProperty("from").GetInt64()} to the resources of version {version}; {changes.Length} resource(s) differ:");
            foreach (var line in changes)
            {
                Console.Error.WriteLine(line);
            }
            Console.Error.Write("Roll back? [y/N] ");
            if (input.ReadLine()?.Trim().ToLowerInvariant() is not ("y" or "yes"))
            {
                Console.Error.WriteLine("meshctl: not rolled back (answer y, or pass --yes)");
                return 1;
            }
        }
        using var response = await admin.Http.PostAsJsonAsync("/v1/config/rollback", new { version }, cancel);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
        var root = body.RootElement;
        if (admin.PrintStructured(root))
        {
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        foreach (var problem in root.GetProperty("errors").EnumerateArray().Concat(root.TryGetProperty("warnings", out var w) ? w.EnumerateArray() : []))
        {
            Console.WriteLine(problem.GetString());
        }
        if (!response.IsSuccessStatusCode)
        {
            Console.WriteLine($"rollback to version {version} refused ({(int)response.StatusCode}); the running config is unchanged");
            return 1;
        }
        Console.WriteLine(root.GetProperty("changed").GetBoolean()
            ? $"rolled back to the resources of version {version}: config version {root.GetProperty("version").GetInt64()}"
            : $"version {version} serves what runs now (config version {root.GetProperty("version").GetInt64()}): nothing changed");
        return 0;
    }

    /// <summary>One line of what a rollback will do to a resource; one only the config dir defines stays (the rollback never edits the dir).</summary>
    private static string Planned(JsonElement r)
    {
        var what = $"{r.GetProperty("kind").GetString()} {r.GetProperty("namespace").GetString()}/{r.GetProperty("name").GetString()}";
        return r.GetProperty("change").GetString() == "removed" && r.GetProperty("fromSource").GetString() is { } source && !source.StartsWith("applied/", StringComparison.Ordinal)
            ? $"  stays: {what} (defined in the config dir's {source}, which a rollback does not edit)"
            : $"  {r.GetProperty("change").GetString()}: {what}";
    }

    private static string Changes(JsonElement changes)
    {
        var parts = new[] { ("added", "+"), ("removed", "-"), ("changed", "~") }
            .SelectMany(k => changes.GetProperty(k.Item1).EnumerateArray().Select(r => k.Item2 + r.GetString()))
            .ToArray();
        return parts.Length == 0 ? "-" : string.Join(", ", parts);
    }
}
