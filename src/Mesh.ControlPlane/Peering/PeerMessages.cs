using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Peering;

/// <summary>What the establishing side sends the token's maker: which of its peerings this is, and who the sender is.</summary>
internal sealed record HandshakeRequest(string Peering, string Name, IReadOnlyList<Uri> Addresses, string TrustDomain, string RootPem, string? Region);

/// <summary>The token maker's answer: itself again, now over a connection checked against the token's root.</summary>
internal sealed record HandshakeResponse(string TrustDomain, string RootPem, string? Region);

/// <summary>What a region exports to one peer: its own instances of the services exported to that peer, health and locality as they are.</summary>
internal sealed record ExportedAnswer(string? Region, string TrustDomain, IReadOnlyList<ServiceInstance> Instances);
