using System.Text.RegularExpressions;
using Mesh.Core.Config.Model;

namespace Mesh.Core.Routing;

/// <summary>
/// A compiled Istio StringMatch. Regexes use .NET's non-backtracking engine (linear time in the input,
/// like RE2), anchored like RE2's full match, with a match timeout as a second guard, so a hostile
/// pattern cannot stall the proxy. A match with no kind set tests only that the value is present, as
/// Istio's header and query-parameter matches do.
/// </summary>
public sealed class StringMatcher
{
    public static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(50);

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
            _regex = CompileRegex(pattern, ignoreCase);
        }
    }

    /// <summary>Compiles a config regex the way matching uses it; throws <see cref="ArgumentException"/>
    /// (bad syntax) or <see cref="NotSupportedException"/> (a construct the linear-time engine lacks).</summary>
    public static Regex CompileRegex(string pattern, bool ignoreCase = false)
    {
        var options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : 0);
        return new Regex($"^(?:{pattern})$", options, RegexTimeout);
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
        if (_regex is null)
        {
            return true; // presence match
        }
        try
        {
            return _regex.IsMatch(value);
        }
        catch (RegexMatchTimeoutException)
        {
            return false; // a value that takes this long is not one the rule was written for
        }
    }
}
