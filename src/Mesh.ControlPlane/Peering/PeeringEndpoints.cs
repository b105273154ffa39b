using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Security;
using Mesh.Core.Peering;
using Mesh.Core.Registry;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Peering;

/// <summary>What an operator sends to make a token for a peer, or to establish a peering with a peer's token.</summary>
internal sealed record PeeringRequest(string? Peer, string? Token);

/// <summary>
/// Peering, Consul style: the admin API makes a token for a named peer (<c>generate-token</c>) and
/// establishes with a token from the other region (<c>establish</c>); the peer API, on the sidecar port,
/// is what the two control planes call on each other: the handshake, then each fetching what the other exports.
/// </summary>
internal static class PeeringEndpoints
{
    public static void MapPeeringAdmin(this RouteGroupBuilder admin)
    {
        admin.MapPost("/v1/peerings/token", (PeeringRequest request, PeeringStore store, MeshCertificateAuthority ca, ControlPlaneOptions options,
            TimeProvider time, ILogger<PeeringStore> logger) =>
        {
            if (PeerName.Problem(request.Peer) is { } problem)
            {
                return Results.Problem($"peer: {problem}", statusCode: StatusCodes.Status400BadRequest);
            }
            if (store.Get(request.Peer!) is { IsActive: true } existing)
            {
                return Results.Problem($"peering '{existing.Name}' is already established ({existing.Role}); delete it first to peer again", statusCode: StatusCodes.Status409Conflict);
            }
            var secret = PeeringStore.NewSecret();
            store.Put(new Peering { Name = request.Peer!, Role = Peering.Acceptor, State = Peering.Pending, Secret = secret, Created = time.GetUtcNow() });
            PeeringLog.TokenGenerated(logger, request.Peer!);
            var token = new PeeringToken(request.Peer!, options.AdvertisedPeeringAddresses, ca.TrustDomain, ca.RootPem, options.Region, secret);
            return Results.Json(new { peer = request.Peer, token = token.Encode() }, MeshJson.Indented);
        });

        admin.MapPost("/v1/peerings/establish", async (PeeringRequest request, PeeringStore store, MeshCertificateAuthority ca, ControlPlaneOptions options,
            TimeProvider time, ILogger<PeeringStore> logger, CancellationToken cancellationToken) =>
        {
            if (PeerName.Problem(request.Peer) is { } problem)
            {
                return Results.Problem($"peer: {problem}", statusCode: StatusCodes.Status400BadRequest);
            }
            if (PeeringToken.Decode(request.Token ?? "", out var tokenProblem) is not { } token)
            {
                return Results.Problem($"token: {tokenProblem}", statusCode: StatusCodes.Status400BadRequest);
            }
            if (token.TrustDomain == ca.TrustDomain)
            {
                return Results.Problem($"the token's region has this mesh's own trust domain '{ca.TrustDomain}'; peered regions need trust domains of their own (--trust-domain), or their identities could not be told apart",
                    statusCode: StatusCodes.Status400BadRequest);
            }
            if (store.Get(request.Peer!) is { IsActive: true } existing)
            {
                return Results.Problem($"peering '{existing.Name}' is already established ({existing.Role}); delete it first to peer again", statusCode: StatusCodes.Status409Conflict);
            }
            HandshakeResponse answer;
            try
            {
                using var client = new PeerClient(token.RootPem, token.Addresses, TimeSpan.FromSeconds(10));
                answer = await client.SendAsync<HandshakeResponse>(HttpMethod.Post, "/v1/peering/handshake", token.Secret, null,
                    new HandshakeRequest(token.Peering, request.Peer!, options.AdvertisedPeeringAddresses, ca.TrustDomain, ca.RootPem, options.Region), cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or PeerRefusedException or System.Text.Json.JsonException)
            {
                return Results.Problem($"the peer at {string.Join(", ", token.Addresses)} did not accept the peering: {e.Message}", statusCode: StatusCodes.Status502BadGateway);
            }
            var peering = new Peering
            {
                Name = request.Peer!,
                Role = Peering.Dialer,
                State = Peering.Active,
                Secret = token.Secret,
                RemoteName = token.Peering,
                Addresses = token.Addresses,
                TrustDomain = answer.TrustDomain,
                RootPem = token.RootPem,
                Region = answer.Region,
                Created = time.GetUtcNow(),
                Established = time.GetUtcNow(),
            };
            store.Put(peering);
            PeeringLog.Established(logger, peering.Name, peering.Role, answer.TrustDomain, peering.Locality, string.Join(",", peering.Addresses));
            return Results.Json(Describe(peering, null, 0, false), MeshJson.Indented);
        });

        admin.MapGet("/v1/peerings", (PeeringStore store, PeerImporter importer, SnapshotPublisher publisher) =>
            Results.Json(store.List().Select(p => Describe(p, importer.Status(p.Name), ExportSelection.ServiceCount(p.Name, publisher.Config), importer.IsImporting)), MeshJson.Indented));

        // What is imported from every peer, as callers here get it (the dashboard's Imported table): stale while its peer is away.
        admin.MapGet("/v1/imported", (PeerImporter importer) => Results.Json(importer.Imported, MeshJson.Indented));

        admin.MapDelete("/v1/peerings/{name}", (string name, PeeringStore store, ILogger<PeeringStore> logger) =>
        {
            if (!store.Remove(name))
            {
                return Results.Problem($"no peering named '{name}'", statusCode: StatusCodes.Status404NotFound);
            }
            PeeringLog.Deleted(logger, name);
            return Results.NoContent();
        });
    }

    /// <summary>A peering as listed: never its secret. <paramref name="importingHere"/>: this replica fetches from the peer (on etcd, only the elected one does).</summary>
    private static object Describe(Peering p, PeerSync? sync, int exportedServices, bool importingHere) => new
    {
        p.Name,
        p.Role,
        p.State,
        p.RemoteName,
        p.TrustDomain,
        region = p.Locality,
        addresses = p.Addresses.Select(a => a.ToString()),
        p.Created,
        p.Established,
        exportedServices,
        importedInstances = sync?.Instances.Count ?? 0,
        healthyImported = sync?.Instances.Count(i => i.Health == HealthStatus.Healthy) ?? 0,
        stale = sync?.Stale ?? false,
        lastSync = sync?.LastSync,
        lastError = sync?.LastError,
        importingHere,
    };

    public static void MapPeerApi(this RouteGroupBuilder api)
    {
        api.MapPost("/v1/peering/handshake", (HttpContext context, HandshakeRequest request, PeeringStore store, MeshCertificateAuthority ca, ControlPlaneOptions options,
            TimeProvider time, ILogger<PeeringStore> logger) =>
        {
            if (store.Authenticate(request.Peering, Bearer(context)) is not { Role: Peering.Acceptor } pending)
            {
                return Refuse(context, logger, $"no peering '{request.Peering}' waiting for that secret (generate a new token?)");
            }
            if (pending.IsActive && pending.TrustDomain != request.TrustDomain)
            {
                return Refuse(context, logger, $"peering '{pending.Name}' is already established with trust domain {pending.TrustDomain}");
            }
            var problem = PeerName.Problem(request.Name) is { } nameProblem ? $"name: {nameProblem}"
                : request.TrustDomain == ca.TrustDomain ? $"trustDomain: '{request.TrustDomain}' is this region's own; each region needs its own trust domain (--trust-domain)"
                : request.Addresses.Count == 0 ? "addresses: none given"
                : null;
            if (problem is not null)
            {
                return Results.Problem($"a handshake names the sender, its own trust domain and its addresses; {problem}", statusCode: StatusCodes.Status400BadRequest);
            }
            var peering = pending with
            {
                State = Peering.Active,
                RemoteName = request.Name,
                Addresses = request.Addresses,
                TrustDomain = request.TrustDomain,
                RootPem = request.RootPem,
                Region = request.Region,
                Established = time.GetUtcNow(),
            };
            store.Put(peering);
            PeeringLog.Established(logger, peering.Name, peering.Role, request.TrustDomain, peering.Locality, string.Join(",", request.Addresses));
            return Results.Json(new HandshakeResponse(ca.TrustDomain, ca.RootPem, options.Region), MeshJson.Options);
        });

        api.MapGet("/v1/peering/exported", (HttpContext context, PeeringStore store, ServiceRegistry registry, SnapshotPublisher publisher,
            MeshCertificateAuthority ca, ControlPlaneOptions options, ILogger<PeeringStore> logger) =>
        {
            var name = context.Request.Headers[PeerClient.PeeringHeader].ToString();
            if (store.Authenticate(name, Bearer(context)) is not { IsActive: true } peering)
            {
                return Refuse(context, logger, $"no established peering '{name}' with that secret");
            }
            return Results.Json(new ExportedAnswer(options.Region, ca.TrustDomain, ExportSelection.For(peering.Name, publisher.Config, registry.Instances)), MeshJson.Options);
        });
    }

    private static string? Bearer(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    private static IResult Refuse(HttpContext context, ILogger logger, string reason)
    {
        PeeringLog.Refused(logger, context.Connection.RemoteIpAddress?.ToString() ?? "?", reason);
        return Results.Problem(reason, statusCode: StatusCodes.Status403Forbidden);
    }
}
