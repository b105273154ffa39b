using System.Text.RegularExpressions;
using Mesh.Core.Config.Model;

namespace Mesh.Core.Routing;

/// <summary>A compiled Istio StringMatch. Regexes use .NET's non-backtracking engine, anchored like RE2's
/// full match, so a hostile pattern cannot stall the proxy.</summary>
public sealed class StringMatcher
{
    private readonly string? _exact;
    private readonly string? _prefix;
    private readonly Regex? _regex;
    private readonly StringComparison _comparison;

    public StringMatcher(StringMatch match, bool ignoreCase = false)
    {
        _exact = match.Exact;
        _prefix = match.Prefix;
        _comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (match.Regex is { } pattern)
        {
            var options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : 0);
            _regex = new Regex($"^(?:{pattern})$", options, TimeSpan.FromMilliseconds(100));
        }
    }

    public bool IsMatch(string? value)
    {
        if (value is null)
        {
            return false;
        }
        if (_exact is not null)
        {
            return string.Equals(value, _exact, _comparison);
        }
        if (_prefix is not null)
        {
            return value.StartsWith(_prefix, _comparison);
        }
        return _regex!.IsMatch(value);
    }
}
