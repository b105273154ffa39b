using System.Globalization;

namespace Mesh.Core.Config.Loading;

/// <summary>
/// Durations as Istio YAML writes them ("10s", "0.5s", "1m", "100ms", "1h30m"): Go's duration syntax,
/// which Istio's CRDs accept in addition to protobuf's "&lt;seconds&gt;s".
/// </summary>
public static class Durations
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var s = text.Trim();
        if (s.Length == 0)
        {
            return false;
        }
        if (s == "0")
        {
            return true;
        }
        double totalMs = 0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }
            if (start == i || !double.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }
            var unitStart = i;
            while (i < s.Length && !char.IsAsciiDigit(s[i]) && s[i] != '.')
            {
                i++;
            }
            double? unitMs = s[unitStart..i] switch
            {
                "ns" => 1e-6,
                "us" or "µs" => 1e-3,
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => null,
            };
            if (unitMs is null)
            {
                return false;
            }
            totalMs += number * unitMs.Value;
        }
        // "99999999999999999999h" parses as a double but is no TimeSpan; it is a bad value, not an overflow.
        if (!double.IsFinite(totalMs) || totalMs >= TimeSpan.MaxValue.TotalMilliseconds)
        {
            return false;
        }
        value = TimeSpan.FromMilliseconds(totalMs);
        return true;
    }

    /// <summary>Formats as the shortest Go-style duration ("1.5s", "250ms", "2m").</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }
        if (value.TotalMilliseconds < 1000)
        {
            return value.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) + "ms";
        }
        if (value.TotalSeconds < 60 || value.TotalSeconds % 60 != 0)
        {
            return value.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
        }
        return value.TotalMinutes % 60 != 0 ? $"{value.TotalMinutes:0}m" : $"{value.TotalHours:0}h";
    }
}
