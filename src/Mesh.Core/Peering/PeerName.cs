using System.Text.RegularExpressions;

namespace Mesh.Core.Peering;

/// <summary>The name a control plane knows a peering under: a DNS label, so it fits in instance ids, metrics and URLs.</summary>
public static partial class PeerName
{
    public static bool IsValid(string? name) => name is not null && Label().IsMatch(name);

    /// <summary>Why <paramref name="name"/> cannot name a peer, or null.</summary>
    public static string? Problem(string? name) => IsValid(name)
        ? null
        : $"a peer name is a DNS label (lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit), got '{name}'";

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex Label();
}
