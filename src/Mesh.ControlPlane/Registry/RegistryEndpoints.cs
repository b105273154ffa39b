using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Registry;

/// <summary>The sidecar-facing registry API: register, renew (heartbeat) and deregister.</summary>
internal static class RegistryEndpoints
{
    public static void MapRegistry(this RouteGroupBuilder api)
    {
        api.MapPost("/v1/register", (Registration registration, ServiceRegistry registry, ILogger<ServiceRegistry> logger) =>
        {
            if (Validate(registration) is { } problem)
            {
                return Results.Problem(problem, statusCode: StatusCodes.Status400BadRequest);
            }
            var lease = registry.Register(registration);
            Log.Registered(logger, registration.InstanceId, registration.Service, registration.Namespace,
                registration.Address, registration.Port, registration.Health.ToString());
            return Results.Ok(lease);
        });

        api.MapPut("/v1/instances/{instanceId}/heartbeat", (string instanceId, Heartbeat heartbeat, ServiceRegistry registry) =>
            registry.Renew(instanceId, heartbeat.Health)
                ? Results.Ok(new LeaseGrant(registry.Options.LeaseTtl, registry.Options.HeartbeatInterval))
                : Results.Problem($"instance '{instanceId}' is not registered; register it again", statusCode: StatusCodes.Status404NotFound));

        api.MapDelete("/v1/instances/{instanceId}", (string instanceId, ServiceRegistry registry, ILogger<ServiceRegistry> logger) =>
        {
            if (!registry.Deregister(instanceId))
            {
                return Results.NotFound();
            }
            Log.Deregistered(logger, instanceId);
            return Results.NoContent();
        });
    }

    private static string? Validate(Registration r)
    {
        if (string.IsNullOrWhiteSpace(r.InstanceId) || string.IsNullOrWhiteSpace(r.Service) || string.IsNullOrWhiteSpace(r.Namespace))
        {
            return "instanceId, service and namespace are required";
        }
        if (!Mesh.Core.Routing.HostName.IsValid(r.Service) || r.Service.Contains('.') || !Mesh.Core.Routing.HostName.IsValid(r.Namespace) || r.Namespace.Contains('.'))
        {
            return $"service '{r.Service}' and namespace '{r.Namespace}' must be DNS labels (letters, digits, '-')";
        }
        if (r.Port is <= 0 or > 65535 || string.IsNullOrWhiteSpace(r.Address))
        {
            return $"address '{r.Address}' and port {r.Port} must name a reachable inbound listener";
        }
        return null;
    }
}
