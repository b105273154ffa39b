namespace Mesh.Core.Config.Model;

/// <summary>Line/column (1-based) of each field path of a document, e.g. "spec.http[0].route[1].weight".</summary>
public sealed class SourcePositions
{
    public static readonly SourcePositions Empty = new(new Dictionary<string, (int, int)>());

    private readonly IReadOnlyDictionary<string, (int Line, int Column)> _positions;

    public SourcePositions(IReadOnlyDictionary<string, (int Line, int Column)> positions) => _positions = positions;

    /// <summary>The position of the path, or of its closest ancestor that has one.</summary>
    public (int Line, int Column) Find(string path)
    {
        for (var p = path; p.Length > 0; p = Parent(p))
        {
            if (_positions.TryGetValue(p, out var pos))
            {
                return pos;
            }
        }
        return (1, 1);
    }

    private static string Parent(string path)
    {
        var cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
        return cut <= 0 ? "" : path[..cut];
    }
}
