using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mesh.Core.Security;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Security;

/// <summary>A join token as stored and listed: never the secret, only its SHA-256.</summary>
internal sealed record JoinTokenRecord
{
    public required string Id { get; init; }
    public required string SecretSha256 { get; init; }
    /// <summary>The only namespace and service it may get certificates for; null: any.</summary>
    public string? Namespace { get; init; }
    public string? Service { get; init; }
    public required DateTimeOffset Created { get; init; }
    public DateTimeOffset? Expires { get; init; }
    public DateTimeOffset? Revoked { get; init; }
    public string? Description { get; init; }

    public string Scope => Service is null ? (Namespace is null ? "any service" : $"any service in namespace {Namespace}") : $"{Namespace}/{Service}";
}

/// <summary>What a presented join token turned out to be.</summary>
internal readonly record struct JoinTokenCheck(JoinTokenRecord? Token, string? Refusal);

/// <summary>
/// Join tokens: bearer secrets a sidecar presents once to get its first workload certificate (after
/// that it renews with the certificate itself). Scoped to a service (or namespace), optionally
/// expiring, revocable; kept as hashes (<see cref="IJoinTokenRecords"/>: data-dir/join-tokens.json, or
/// etcd), so the store leaks no token. A token reads "mesh-join.&lt;id&gt;.&lt;secret&gt;"; the id is what
/// logs and listings show.
/// </summary>
internal sealed class JoinTokenStore(IJoinTokenRecords records, TimeProvider time)
{
    public const string Prefix = "mesh-join.";

    public IReadOnlyList<JoinTokenRecord> List() => [.. records.All().OrderBy(t => t.Created)];

    /// <summary>Makes a token; the returned secret is shown once and never stored.</summary>
    public (JoinTokenRecord Record, string Token) Create(string? ns, string? service, TimeSpan? ttl, string? description)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = time.GetUtcNow();
        var record = new JoinTokenRecord
        {
            Id = id,
            SecretSha256 = Hash(secret),
            Namespace = ns ?? (service is null ? null : "default"),
            Service = service,
            Created = now,
            Expires = ttl is { } t ? now + t : null,
            Description = description,
        };
        records.Put(record);
        return (record, $"{Prefix}{id}.{secret}");
    }

    /// <summary>Revokes a token; false if there is no such id.</summary>
    public bool Revoke(string id)
    {
        if (records.Find(id) is not { } token)
        {
            return false;
        }
        records.Put(token with { Revoked = token.Revoked ?? time.GetUtcNow() });
        return true;
    }

    /// <summary>Checks a presented token; the refusal names the token by id, never by secret.</summary>
    public JoinTokenCheck Check(string presented)
    {
        var parts = presented.StartsWith(Prefix, StringComparison.Ordinal) ? presented[Prefix.Length..].Split('.') : [];
        if (parts is not [var id, var secret])
        {
            return new JoinTokenCheck(null, "malformed join token");
        }
        var token = records.Find(id);
        if (token is null || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(token.SecretSha256)))
        {
            return new JoinTokenCheck(null, $"unknown join token (id {Sanitize(id)})");
        }
        if (token.Revoked is { } revoked)
        {
            return new JoinTokenCheck(null, $"join token {id} was revoked at {revoked:u}");
        }
        if (token.Expires is { } expires && time.GetUtcNow() > expires)
        {
            return new JoinTokenCheck(null, $"join token {id} expired at {expires:u}");
        }
        return new JoinTokenCheck(token, null);
    }

    private static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>An id as presented may be anything; log at most a short, harmless prefix of it.</summary>
    private static string Sanitize(string id) => new(id.Take(12).Where(char.IsAsciiLetterOrDigit).ToArray());
}

/// <summary>
/// The admin API's token: made on first start into data-dir/admin-token (owner-readable only) and
/// never logged; whoever can read that file (or is given its content) may administer the mesh. On etcd,
/// the first replica's token is the mesh's: its SHA-256 is stored once in etcd and every replica accepts
/// it (besides its own file's, which only that replica accepts), so one token file serves meshctl
/// against any replica.
/// </summary>
internal sealed class AdminToken
{
    private readonly byte[] _hash;
    private readonly byte[]? _meshHash;

    public AdminToken(string dataDir, Func<byte[], byte[]>? shareHash = null)
    {
        Path = System.IO.Path.Combine(dataDir, "admin-token");
        if (!File.Exists(Path))
        {
            SecretFile.Write(Path, "mesh-admin." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n");
        }
        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(File.ReadAllText(Path).Trim()));
        _meshHash = shareHash?.Invoke(_hash);
    }

    public string Path { get; }

    public bool Matches(string presented)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented.Trim()));
        return CryptographicOperations.FixedTimeEquals(hash, _hash) | (_meshHash is { } mesh && CryptographicOperations.FixedTimeEquals(hash, mesh));
    }
}
