using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Mesh.Core.Config.Loading;

namespace Mesh.Core.Hosting;

/// <summary>
/// The mesh's command-line flags on System.CommandLine: each flag is declared once, with its help, the
/// value it takes and its default (read from the options record's initializer, so help shows what the
/// program really uses), and parsed strictly. Every problem is a <see cref="UsageException"/> with one line
/// that names the flag and what it expects; programs print it and exit with <see cref="UsageExitCode"/>.
/// </summary>
public static class Flags
{
    public const int UsageExitCode = 2;

    public static Option<string> Text(string name, string value, string help, string fallback) =>
        new($"--{name}") { Description = help, HelpName = value, DefaultValueFactory = _ => fallback };

    /// <summary>A flag with no default: null when absent (or <c>Required</c>, refused when absent).</summary>
    public static Option<string?> Text(string name, string value, string help, bool required = false) =>
        new($"--{name}") { Description = help, HelpName = value, Required = required };

    public static Option<bool> Switch(string name, string help) => new($"--{name}") { Description = help, Arity = ArgumentArity.Zero };

    public static Option<int> Port(string name, string help, int fallback, bool zeroTurnsOff = false) => new($"--{name}")
    {
        Description = help,
        HelpName = "port",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => int.TryParse(Single(r), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 0 and <= 65535 && (port > 0 || zeroTurnsOff)
            ? port
            : Fail<int>(r, $"--{name} expects a port number {(zeroTurnsOff ? 0 : 1)}-65535, got '{Single(r)}'"),
    };

    public static Option<int> Int(string name, string value, string help, int fallback, int min, int max) => new($"--{name}")
    {
        Description = help,
        HelpName = value,
        DefaultValueFactory = _ => fallback,
        CustomParser = r => int.TryParse(Single(r), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : Fail<int>(r, $"--{name} expects a whole number {min}-{max}, got '{Single(r)}'"),
    };

    /// <summary>A share between 0 and 1, e.g. a sampling ratio.</summary>
    public static Option<double> Ratio(string name, string help, double fallback) => new($"--{name}")
    {
        Description = help,
        HelpName = "ratio",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => double.TryParse(Single(r), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n is >= 0 and <= 1
            ? n
            : Fail<double>(r, $"--{name} expects a ratio between 0 and 1 (e.g. 0.01), got '{Single(r)}'"),
    };

    /// <summary>A duration like 500ms, 10s or 1m; <paramref name="zeroAllowed"/> lets 0 turn something off.</summary>
    public static Option<TimeSpan> Duration(string name, string help, TimeSpan fallback, bool zeroAllowed = false) => new($"--{name}")
    {
        Description = help,
        HelpName = "duration",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => Durations.TryParse(Single(r), out var d) && (d > TimeSpan.Zero || (zeroAllowed && d == TimeSpan.Zero))
            ? d
            : Fail<TimeSpan>(r, $"--{name} expects a {(zeroAllowed ? "" : "positive ")}duration like 500ms, 10s or 1m, got '{Single(r)}'"),
    };

    /// <summary>A repeatable "--name key=value" flag as a map.</summary>
    public static Option<IReadOnlyDictionary<string, string>> KeyValues(string name, string value, string help) => new($"--{name}")
    {
        Description = $"{help} (repeatable)",
        HelpName = value,
        Arity = ArgumentArity.ZeroOrMore,
        AllowMultipleArgumentsPerToken = false,
        DefaultValueFactory = _ => new Dictionary<string, string>(StringComparer.Ordinal),
        CustomParser = r =>
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var token in r.Tokens)
            {
                var eq = token.Value.IndexOf('=');
                if (eq <= 0)
                {
                    return Fail<IReadOnlyDictionary<string, string>>(r, $"--{name} expects {value}, got '{token.Value}'");
                }
                map[token.Value[..eq]] = token.Value[(eq + 1)..];
            }
            return map;
        },
    };

    /// <summary>Whether the flag was on the command line (not its default).</summary>
    public static bool Given(this ParseResult parsed, Option option) => parsed.GetResult(option) is { Implicit: false };

    /// <summary>
    /// Parses <paramref name="args"/> against <paramref name="root"/>'s flags; the first problem becomes a
    /// <see cref="UsageException"/> (an unknown flag with the nearest known one, a flag given twice, a
    /// value that does not parse, a required flag missing).
    /// </summary>
    public static ParseResult Parse(RootCommand root, IReadOnlyList<string> args)
    {
        var parsed = root.Parse(args);
        if (parsed.UnmatchedTokens.FirstOrDefault() is { } unknown)
        {
            if (!unknown.StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"unexpected argument '{unknown}'; flags look like --name value (see --help)");
            }
            var name = unknown.Split('=')[0];
            throw new UsageException(Nearest(root.Options.Select(o => o.Name), name) is { } near
                ? $"unknown flag {name}; did you mean {near}? (see --help)"
                : $"unknown flag {name} (see --help)");
        }
        foreach (var option in root.Options)
        {
            if (option.Arity.MaximumNumberOfValues <= 1 && parsed.GetResult(option) is { IdentifierTokenCount: > 1 })
            {
                throw new UsageException($"{option.Name} is given twice");
            }
        }
        foreach (var option in root.Options)
        {
            if (option.Arity.MinimumNumberOfValues > 0 && parsed.GetResult(option) is { IdentifierTokenCount: > 0, Tokens.Count: 0 })
            {
                throw new UsageException($"{option.Name} expects {option.HelpName ?? "a value"}");
            }
        }
        if (parsed.Errors.Count > 0)
        {
            // Every problem at once, on one line: our parsers' messages (they start with the flag), then each
            // required flag that is missing, said our way; System.CommandLine's own message if neither.
            var problems = parsed.Errors.Select(e => e.Message).Where(m => m.StartsWith("--", StringComparison.Ordinal))
                .Concat(root.Options.Where(o => o.Required && parsed.GetResult(o) is not { IdentifierTokenCount: > 0 }).Select(o => $"{o.Name} is required"))
                .Distinct()
                .ToList();
            throw new UsageException(problems.Count > 0 ? string.Join("; ", problems) : parsed.Errors[0].Message);
        }
        return parsed;
    }

    /// <summary>The generated help: usage, the description and every flag with its value and default.</summary>
    public static string Help(RootCommand root)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output });
        var text = output.ToString();
        // Durations' defaults as they are written on the command line (8s), not as TimeSpan prints them
        // (00:00:08): System.CommandLine's help builder, which would take a custom text, is internal.
        foreach (var duration in root.Options.OfType<Option<TimeSpan>>().Where(o => o.HasDefaultValue))
        {
            var value = (TimeSpan)duration.GetDefaultValue()!;
            text = text.Replace($"[default: {value}]", $"[default: {Durations.Format(value)}]", StringComparison.Ordinal);
        }
        return text;
    }

    private static string Single(ArgumentResult result) => result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(' ', result.Tokens.Select(t => t.Value));

    private static T Fail<T>(ArgumentResult result, string message)
    {
        result.AddError(message);
        return default!;
    }

    /// <summary>The name nearest to a mistyped one by edit distance, if it is within <paramref name="most"/> edits.</summary>
    public static string? Nearest(IEnumerable<string> names, string typo, int most = 3) =>
        names.Select(n => (Name: n, Edits: Distance(n, typo))).Where(n => n.Edits <= most).OrderBy(n => n.Edits).Select(n => n.Name).FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
        }
        return d[a.Length, b.Length];
    }
}
