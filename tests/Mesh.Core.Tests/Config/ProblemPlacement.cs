using Mesh.Core.Config.Loading;

namespace Mesh.Core.Tests.Config;

/// <summary>
/// Asserts that config problems point into the text they are about. Shared by the loader's fuzz tests
/// and (linked) by the control plane's config store tests, so both hold problems to the same rule.
/// </summary>
internal static class ProblemPlacement
{
    /// <summary>Every problem names <paramref name="fileName"/> and a line and column inside it, and reads as file:line:column.</summary>
    public static void AssertPlaced(IEnumerable<ConfigError> problems, string fileName, string text)
    {
        var lines = Lines(text);
        foreach (var p in problems)
        {
            Assert.Equal(fileName, p.File);
            Assert.True(p.Line >= 1 && p.Line <= lines.Count + 1, $"line {p.Line} outside 1..{lines.Count + 1}: {p}");
            var width = p.Line <= lines.Count ? lines[p.Line - 1] : 0;
            Assert.True(p.Column >= 1 && p.Column <= width + 1, $"column {p.Column} outside 1..{width + 1} of line {p.Line}: {p}");
            Assert.StartsWith($"{fileName}:{p.Line}:{p.Column}:", p.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", p.Message, StringComparison.Ordinal); // a stack trace is not an error message
        }
    }

    /// <summary>Line lengths as YAML counts lines: \r\n, \r, \n, NEL, LS and PS each end one.</summary>
    private static List<int> Lines(string text)
    {
        var lengths = new List<int>();
        var length = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\n' or '\r' or '\u0085' or '\u2028' or '\u2029')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }
                lengths.Add(length);
                length = 0;
            }
            else
            {
                length++;
            }
        }
        lengths.Add(length);
        return lengths;
    }
}
