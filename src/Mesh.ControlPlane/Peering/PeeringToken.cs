using System.Text;
using System.Text.Json;

namespace Mesh.ControlPlane.Peering;

/// <summary>
/// What <c>meshctl peering generate-token</c> prints: where the generating control plane is, its trust domain
/// and root (so the other side can check it before sending anything), the name it knows the peering under,
/// and the secret both sides will present. Base64url JSON behind a <c>mesh-peering.</c> prefix: one word
/// to paste.
/// </summary>
internal sealed record PeeringToken(string Peering, IReadOnlyList<Uri> Addresses, string TrustDomain, string RootPem, string? Region, string Secret)
{
    public const string Prefix = "mesh-peering.";

    public string Encode() => Prefix + Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(this, Mesh.Core.Snapshots.MeshJson.Options))
        .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The token, or why the text is not one (never echoing the text: it holds a secret).</summary>
    public static PeeringToken? Decode(string text, out string? problem)
    {
        problem = null;
        text = text.Trim();
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            problem = $"a peering token starts with '{Prefix}' (from meshctl peering generate-token on the other region)";
            return null;
        }
        try
        {
            var body = text[Prefix.Length..].Replace('-', '+').Replace('_', '/');
            body = body.PadRight(body.Length + ((4 - body.Length % 4) % 4), '=');
            var token = JsonSerializer.Deserialize<PeeringToken>(Encoding.UTF8.GetString(Convert.FromBase64String(body)), Mesh.Core.Snapshots.MeshJson.Options);
            if (token is null || token.Addresses is not { Count: > 0 } || string.IsNullOrEmpty(token.Secret) || string.IsNullOrEmpty(token.RootPem)
                || string.IsNullOrEmpty(token.TrustDomain) || string.IsNullOrEmpty(token.Peering))
            {
                problem = "the peering token lacks its addresses, trust domain, root, peering name or secret (was it cut short?)";
                return null;
            }
            return token;
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException)
        {
            problem = "the peering token does not decode (was it cut short or edited?)";
            return null;
        }
    }
}
