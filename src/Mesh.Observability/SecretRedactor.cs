using System.Text.Json.Nodes;

namespace Mesh.Observability;

/// <summary>
/// Blanks secrets in JSON that admin endpoints show (<c>/config_dump</c>, the control plane's config):
/// any property whose name says key, token, secret, password or credential, at any depth. Public
/// material (certificates, key ids) is named so that it stays visible: <c>certificate</c>,
/// <c>keyId</c> and the like do not match.
/// </summary>
public static class SecretRedactor
{
    public const string Redacted = "[redacted]";

    private static readonly string[] SecretWords = ["privatekey", "private_key", "token", "secret", "password", "credential", "apikey", "api_key"];

    public static JsonNode? Redact(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, value) in obj.ToArray())
                {
                    if (IsSecret(name) && value is not null)
                    {
                        obj[name] = Redacted;
                    }
                    else
                    {
                        Redact(value);
                    }
                }
                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Redact(item);
                }
                break;
        }
        return node;
    }

    public static bool IsSecret(string propertyName)
    {
        var name = propertyName.ToLowerInvariant();
        return SecretWords.Any(name.Contains) || name is "key" || name.EndsWith("keypem", StringComparison.Ordinal);
    }
}
