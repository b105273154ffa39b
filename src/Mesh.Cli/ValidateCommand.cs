using System.Text.Json;
using Mesh.Core.Config.Loading;

namespace Mesh.Cli;

/// <summary>
/// <c>meshctl validate PATH...</c>: checks YAML files (or every .yaml/.yml under a directory) with the
/// control plane's own loader and validator, offline, and prints every problem with its position.
/// With <c>--remote</c> each file is checked by the running control plane instead (POST /v1/validate),
/// which also knows the running config and the registry.
/// </summary>
internal static class ValidateCommand
{
    public const int InvalidExitCode = 1;

    public static int RunOffline(IReadOnlyList<string> paths, TextWriter output)
    {
        var files = new List<(string Name, string Text)>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*.*", SearchOption.AllDirectories)
                    .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal)
                    .Select(f => (f, File.ReadAllText(f))));
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
        return Report(ConfigLoader.Load(files).Problems.Select(p => (p.ToString(), p.Severity == ConfigSeverity.Error)).ToArray(), files.Count, output);
    }

    public static async Task<int> RunRemoteAsync(HttpClient admin, IReadOnlyList<string> paths, TextWriter output)
    {
        var problems = new List<(string, bool)>();
        foreach (var path in paths)
        {
            if (!File.Exists(path))
            {
                output.WriteLine($"{path}: no such file (--remote checks files, one at a time)");
                return InvalidExitCode;
            }
            using var content = new StringContent(await File.ReadAllTextAsync(path));
            using var response = await admin.PostAsync($"/v1/validate?file={Uri.EscapeDataString(Path.GetFileName(path))}", content);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            problems.AddRange(body.RootElement.GetProperty("errors").EnumerateArray().Select(e => (e.GetString()!, true)));
            problems.AddRange(body.RootElement.GetProperty("warnings").EnumerateArray().Select(e => (e.GetString()!, false)));
        }
        return Report(problems, paths.Count, output);
    }

    private static int Report(IReadOnlyList<(string Text, bool IsError)> problems, int fileCount, TextWriter output)
    {
        foreach (var (text, _) in problems)
        {
            output.WriteLine(text);
        }
        var errors = problems.Count(p => p.IsError);
        var warnings = problems.Count - errors;
        output.WriteLine(errors == 0
            ? $"valid: {fileCount} file(s), {warnings} warning(s)"
            : $"invalid: {errors} error(s), {warnings} warning(s) in {fileCount} file(s)");
        return errors == 0 ? 0 : InvalidExitCode;
    }
}
