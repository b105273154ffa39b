using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Security;
using Mesh.Core.Snapshots;

namespace Mesh.ControlPlane.Admin;

/// <summary>What an operator asks for when making a join token.</summary>
internal sealed record JoinTokenRequest(string? Namespace, string? Service, string? Ttl, string? Description);

/// <summary>Admin API for join tokens: create (the secret is shown once), list (never secrets), revoke.</summary>
internal static class JoinTokenEndpoints
{
    public static void MapJoinTokens(this RouteGroupBuilder admin)
    {
        admin.MapPost("/v1/join-tokens", (JoinTokenRequest request, JoinTokenStore store, ILogger<JoinTokenStore> logger) =>
        {
            foreach (var (field, value) in new[] { ("namespace", request.Namespace), ("service", request.Service) })
            {
                if (value is not null && (!Mesh.Core.Routing.HostName.IsValid(value) || value.Contains('.')))
                {
                    return Results.Problem($"{field} must be a DNS label (letters, digits, '-'), got '{value}'", statusCode: StatusCodes.Status400BadRequest);
                }
            }
            TimeSpan? ttl = null;
            if (request.Ttl is { } text)
            {
                if (!Mesh.Core.Config.Loading.Durations.TryParse(text, out var parsed) || parsed <= TimeSpan.Zero)
                {
                    return Results.Problem($"ttl expects a duration like 1h or 30m, got '{text}'", statusCode: StatusCodes.Status400BadRequest);
                }
                ttl = parsed;
            }
            var (record, token) = store.Create(request.Namespace, request.Service, ttl, request.Description);
            Log.JoinTokenCreated(logger, record.Id, record.Scope);
            return Results.Json(new { record.Id, token, record.Namespace, record.Service, record.Expires, record.Description }, MeshJson.Indented);
        });

        admin.MapGet("/v1/join-tokens", (JoinTokenStore store) =>
            Results.Json(store.List().Select(t => new { t.Id, t.Namespace, t.Service, t.Created, t.Expires, t.Revoked, t.Description }), MeshJson.Indented));

        admin.MapDelete("/v1/join-tokens/{id}", (string id, JoinTokenStore store, ILogger<JoinTokenStore> logger) =>
        {
            if (!store.Revoke(id))
            {
                return Results.Problem($"no join token with id '{id}'", statusCode: StatusCodes.Status404NotFound);
            }
            Log.JoinTokenRevoked(logger, id);
            return Results.NoContent();
        });
    }
}
