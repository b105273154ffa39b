using System.Globalization;
using System.Text;
using Mesh.Core.Config.Loading;

namespace Mesh.Core.Hosting;

/// <summary>
/// Strict "--flag value" / "--flag=value" parsing. Every problem is a <see cref="UsageException"/> with
/// one line that names the flag and what it expects; programs print it and exit with code 2.
/// </summary>
public sealed class CommandLine
{
    public const int UsageExitCode = 2;

    private readonly Dictionary<string, List<string>> _values;

    private CommandLine(Dictionary<string, List<string>> values) => _values = values;

    public static CommandLine Parse(IReadOnlyList<string> args, IReadOnlyList<FlagSpec> flags)
    {
        var specs = flags.ToDictionary(f => f.Name, StringComparer.Ordinal);
        var values = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new UsageException($"unexpected argument '{arg}'; flags look like --name value (see --help)");
            }
            var name = arg[2..];
            string? inline = null;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }
            if (!specs.TryGetValue(name, out var spec))
            {
                throw new UsageException($"unknown flag --{name} (see --help)");
            }
            string value;
            if (spec.Value is null)
            {
                if (inline is not null)
                {
                    throw new UsageException($"--{name} takes no value");
                }
                value = "true";
            }
            else if (inline is not null)
            {
                value = inline;
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            else
            {
                throw new UsageException($"--{name} expects {spec.Value}");
            }
            if (!values.TryGetValue(name, out var list))
            {
                values[name] = list = [];
            }
            else if (!spec.Repeatable)
            {
                throw new UsageException($"--{name} is given twice");
            }
            list.Add(value);
        }
        return new CommandLine(values);
    }

    public static string Usage(string program, string summary, IReadOnlyList<FlagSpec> flags)
    {
        var text = new StringBuilder().AppendLine($"usage: {program} [flags]").AppendLine(summary).AppendLine();
        foreach (var flag in flags)
        {
            var left = flag.Value is null ? $"--{flag.Name}" : $"--{flag.Name} <{flag.Value}>";
            text.AppendLine($"  {left,-34} {flag.Help}");
        }
        return text.ToString();
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? String(string name) => _values.TryGetValue(name, out var v) ? v[^1] : null;

    public string String(string name, string fallback) => String(name) ?? fallback;

    public string Required(string name) =>
        String(name) is { Length: > 0 } value ? value : throw new UsageException($"--{name} is required");

    public int Port(string name, int fallback)
    {
        if (String(name) is not { } text)
        {
            return fallback;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 0 and <= 65535
            ? port
            : throw new UsageException($"--{name} expects a port number 0-65535, got '{text}'");
    }

    public int Int(string name, int fallback, int min, int max)
    {
        if (String(name) is not { } text)
        {
            return fallback;
        }
        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"--{name} expects a whole number {min}-{max}, got '{text}'");
    }

    /// <summary>A share between 0 and 1, e.g. a sampling ratio.</summary>
    public double Ratio(string name, double fallback)
    {
        if (String(name) is not { } text)
        {
            return fallback;
        }
        return double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value is >= 0 and <= 1
            ? value
            : throw new UsageException($"--{name} expects a ratio between 0 and 1 (e.g. 0.01), got '{text}'");
    }

    public TimeSpan Duration(string name, TimeSpan fallback)
    {
        if (String(name) is not { } text)
        {
            return fallback;
        }
        return Durations.TryParse(text, out var value) && value > TimeSpan.Zero
            ? value
            : throw new UsageException($"--{name} expects a positive duration like 500ms, 10s or 1m, got '{text}'");
    }

    public Uri Url(string name, params string[] schemes)
    {
        var text = Required(name);
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && schemes.Contains(uri.Scheme)
            ? uri
            : throw new UsageException($"--{name} expects a URL like {schemes[0]}://127.0.0.1:15012, got '{text}'");
    }

    /// <summary>A repeatable "--name key=value" flag as a map.</summary>
    public IReadOnlyDictionary<string, string> KeyValues(string name)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in _values.GetValueOrDefault(name) ?? [])
        {
            var eq = item.IndexOf('=');
            if (eq <= 0)
            {
                throw new UsageException($"--{name} expects key=value, got '{item}'");
            }
            result[item[..eq]] = item[(eq + 1)..];
        }
        return result;
    }
}
