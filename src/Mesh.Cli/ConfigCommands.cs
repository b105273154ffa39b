using System.Text.Json;
using Mesh.Core.Config.Loading;

namespace Mesh.Cli;

/// <summary>
/// The config commands. <c>validate PATH...</c> checks YAML files (or every .yaml/.yml under a
/// directory) with the control plane's own loader and validator, offline. <c>validate --remote</c>,
/// <c>apply -f</c> and <c>delete -f</c> send each file to the running control plane, which checks it
/// against the running config and registry (and, for apply/delete, changes the config if it is valid).
/// </summary>
internal static class ConfigCommands
{
    public const int InvalidExitCode = 1;

    public static int ValidateOffline(IReadOnlyList<string> paths, TextWriter output)
    {
        var files = new List<(string Name, string Text)>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(ConfigLoader.ReadDirectory(path).Select(f => (Path.Combine(path, f.Name), f.Text)));
            }
            else if (File.Exists(path))
            {
                files.Add((path, File.ReadAllText(path)));
            }
            else
            {
                output.WriteLine($"{path}: no such file or directory");
                return InvalidExitCode;
            }
        }
        var problems = ConfigLoader.Load(files).Problems;
        foreach (var problem in problems)
        {
            output.WriteLine(problem);
        }
        return Summary(problems.Count(p => p.Severity == ConfigSeverity.Error), problems.Count(p => p.Severity == ConfigSeverity.Warning), files.Count, output);
    }

    /// <summary>Posts each file to <paramref name="endpoint"/> (/v1/validate, /v1/apply, /v1/delete) and prints the outcome.</summary>
    public static async Task<int> SendAsync(HttpClient admin, string endpoint, string done, IReadOnlyList<string> paths, TextWriter output)
    {
        var (errors, warnings) = (0, 0);
        foreach (var path in paths)
        {
            if (!File.Exists(path))
            {
                output.WriteLine($"{path}: no such file");
                return InvalidExitCode;
            }
            using var content = new StringContent(await File.ReadAllTextAsync(path));
            using var response = await admin.PostAsync($"{endpoint}?file={Uri.EscapeDataString(Path.GetFileName(path))}", content);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var root = body.RootElement;
            foreach (var problem in root.GetProperty("errors").EnumerateArray().Concat(root.GetProperty("warnings").EnumerateArray()))
            {
                output.WriteLine(problem.GetString());
            }
            errors += root.GetProperty("errors").GetArrayLength();
            warnings += root.GetProperty("warnings").GetArrayLength();
            if (root.GetProperty("valid").GetBoolean())
            {
                foreach (var resource in root.GetProperty("resources").EnumerateArray())
                {
                    output.WriteLine($"{resource.GetString()} {done}");
                }
            }
            else if (root.GetProperty("errors").GetArrayLength() == 0)
            {
                errors++;
                output.WriteLine($"{path}: refused ({(int)response.StatusCode})");
            }
            if (root.TryGetProperty("version", out var version) && version.ValueKind == JsonValueKind.Number)
            {
                output.WriteLine($"config version {version.GetInt64()}");
            }
        }
        return Summary(errors, warnings, paths.Count, output);
    }

    private static int Summary(int errors, int warnings, int fileCount, TextWriter output)
    {
        output.WriteLine(errors == 0
            ? $"valid: {fileCount} file(s), {warnings} warning(s)"
            : $"invalid: {errors} error(s), {warnings} warning(s) in {fileCount} file(s)");
        return errors == 0 ? 0 : InvalidExitCode;
    }
}
