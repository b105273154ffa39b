namespace Mesh.ControlPlane.Peering;

/// <summary>
/// One peering with another region's control plane, as this side keeps it. <see cref="Name"/> is what this
/// side calls the peer (what ExportedServices consumers name); <see cref="RemoteName"/> what the peer calls
/// this side, sent with every call to it. Both sides hold the same <see cref="Secret"/>: each presents it to
/// the other's peer API.
/// </summary>
internal sealed record Peering
{
    public required string Name { get; init; }

    /// <summary><c>acceptor</c>: this side generated the token; <c>dialer</c>: this side established with it.</summary>
    public required string Role { get; init; }

    /// <summary><c>PENDING</c> (a token was generated, nobody established with it yet) or <c>ACTIVE</c>.</summary>
    public required string State { get; init; }

    public required string Secret { get; init; }
    public string? RemoteName { get; init; }
    public IReadOnlyList<Uri> Addresses { get; init; } = [];
    public string? TrustDomain { get; init; }
    public string? RootPem { get; init; }

    /// <summary>The peer's region (its <c>--region</c>), the locality of what is imported from it; its name when it has none.</summary>
    public string? Region { get; init; }
    public DateTimeOffset Created { get; init; }
    public DateTimeOffset? Established { get; init; }

    public const string Acceptor = "acceptor";
    public const string Dialer = "dialer";
    public const string Pending = "PENDING";
    public const string Active = "ACTIVE";

    public bool IsActive => State == Active;

    public string Locality => Region ?? Name;
}
