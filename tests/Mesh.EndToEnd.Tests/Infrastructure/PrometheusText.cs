using System.Globalization;
using System.Text.RegularExpressions;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>One sample of a Prometheus text exposition.</summary>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public bool Has(params (string Label, string Value)[] labels) => labels.All(l => Labels.TryGetValue(l.Label, out var v) && v == l.Value);
}

/// <summary>
/// A strict reader of the Prometheus text format (version 0.0.4): every line is a HELP or TYPE
/// comment or a sample; every sample belongs to a family whose TYPE came before it; histogram
/// buckets are cumulative and end at +Inf with the count. Anything else fails the test.
/// </summary>
internal static partial class PrometheusText
{
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<PrometheusSample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                continue;
            }
            if (TypeLine().Match(line) is { Success: true } type)
            {
                types[type.Groups[1].Value] = type.Groups[2].Value;
                continue;
            }
            var sample = SampleLine().Match(line);
            if (!sample.Success)
            {
                throw new FormatException($"not Prometheus text: '{line}'");
            }
            var name = sample.Groups[1].Value;
            var family = types.Keys.FirstOrDefault(f => name == f || (name.StartsWith(f, StringComparison.Ordinal) && name[f.Length..] is "_total" or "_bucket" or "_sum" or "_count"))
                ?? throw new FormatException($"sample '{name}' has no # TYPE line before it");
            var labels = LabelPair().Matches(sample.Groups[2].Value).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
            var value = sample.Groups[3].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            _ = family;
            samples.Add(new PrometheusSample(name, labels, value));
        }
        CheckHistograms(samples);
        return samples;
    }

    private static void CheckHistograms(List<PrometheusSample> samples)
    {
        foreach (var series in samples.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal))
                     .GroupBy(s => s.Name + string.Join(',', s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal))))
        {
            var buckets = series.ToArray();
            for (var i = 1; i < buckets.Length; i++)
            {
                if (buckets[i].Value < buckets[i - 1].Value)
                {
                    throw new FormatException($"{series.Key}: bucket counts must not decrease");
                }
            }
            if (buckets[^1].Labels["le"] != "+Inf")
            {
                throw new FormatException($"{series.Key}: the last bucket must be le=\"+Inf\"");
            }
        }
    }

    public static double Value(this IEnumerable<PrometheusSample> samples, string name, params (string Label, string Value)[] labels) =>
        samples.Where(s => s.Name == name && s.Has(labels)).Sum(s => s.Value);

    [GeneratedRegex(@"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
