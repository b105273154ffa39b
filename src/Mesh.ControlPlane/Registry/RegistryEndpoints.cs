using Mesh.ControlPlane.Limits;
using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Registry.Etcd;
using Mesh.ControlPlane.Security;
using Mesh.ControlPlane.Telemetry;
using Mesh.Core.Registry;
using Mesh.Core.Security;

namespace Mesh.ControlPlane.Registry;

/// <summary>
/// The sidecar-facing registry API: register, renew (heartbeat) and deregister. A sidecar authenticates
/// with its workload certificate and may touch only instances of its own service and namespace.
/// </summary>
internal static class RegistryEndpoints
{
    public static void MapRegistry(this RouteGroupBuilder api)
    {
        api.MapPost("/v1/register", async (HttpContext context, Registration registration, ServiceRegistry registry, IRegistryStore store, MeshCertificateAuthority ca, ILogger<ServiceRegistry> logger) =>
        {
            if (Validate(registration) is { } problem)
            {
                return Results.Problem(problem, statusCode: StatusCodes.Status400BadRequest);
            }
            var caller = context.User.Workload(ca.TrustDomain)!;
            var scope = WorkloadCertificates.AgentScope(context.Connection.ClientCertificate);
            if (!WorkloadCertificates.MayRegister(caller, scope, registration.Service, registration.Namespace)
                || (registration.Source == RegistrationSource.Sidecar && (caller.Namespace != registration.Namespace || caller.Service != registration.Service)))
            {
                var may = scope switch
                {
                    null => $"only instances of {caller.Service}.{caller.Namespace} (its join token was scoped to that service)",
                    WorkloadCertificates.AnyNamespace => $"only its own sidecar instance of {caller.Service}.{caller.Namespace}, and Consul or Eureka registrations of any service",
                    _ => $"only its own sidecar instance of {caller.Service}.{caller.Namespace}, and Consul or Eureka registrations in namespace {scope}",
                };
                return MeshAuthentication.Refuse(context, StatusCodes.Status403Forbidden,
                    $"{caller} may register {may}, not '{registration.InstanceId}' of {registration.Service}.{registration.Namespace} ({registration.Source})");
            }
            if (NotOwner(context, caller, registry.Find(registration.InstanceId), "replace") is { } refused)
            {
                return refused;
            }
            LeaseGrant lease;
            try
            {
                lease = await store.RegisterAsync(registration, context.RequestAborted).ConfigureAwait(false);
            }
            catch (EtcdUnavailableException e)
            {
                return StoreUnavailable(e, logger);
            }
            Log.Registered(logger, registration.InstanceId, registration.Service, registration.Namespace,
                registration.Address, registration.Port, registration.Health.ToString());
            return Results.Ok(lease);
        }).WithBodyLimit(RequestLimits.MaxRegistrationBodySize);

        api.MapPut("/v1/instances/{instanceId}/heartbeat", async (HttpContext context, string instanceId, Heartbeat heartbeat, ServiceRegistry registry, IRegistryStore store, MeshCertificateAuthority ca, TrafficSignals signals, ILogger<ServiceRegistry> logger) =>
        {
            var instance = registry.Find(instanceId);
            if (NotOwner(context, context.User.Workload(ca.TrustDomain)!, instance, "renew") is { } refused)
            {
                return refused;
            }
            bool renewed;
            try
            {
                renewed = await store.RenewAsync(instanceId, heartbeat.Health, context.RequestAborted).ConfigureAwait(false);
            }
            catch (EtcdUnavailableException e)
            {
                return StoreUnavailable(e, logger);
            }
            if (renewed && instance is not null && heartbeat.Traffic is { } traffic)
            {
                signals.Record(instance, traffic);
            }
            return renewed
                ? Results.Ok(new LeaseGrant(registry.Options.LeaseTtl, registry.Options.HeartbeatInterval))
                : Results.Problem($"instance '{instanceId}' is not registered; register it again", statusCode: StatusCodes.Status404NotFound);
        });

        api.MapDelete("/v1/instances/{instanceId}", async (HttpContext context, string instanceId, ServiceRegistry registry, IRegistryStore store, MeshCertificateAuthority ca, ILogger<ServiceRegistry> logger) =>
        {
            if (NotOwner(context, context.User.Workload(ca.TrustDomain)!, registry.Find(instanceId), "deregister") is { } refused)
            {
                return refused;
            }
            bool deregistered;
            try
            {
                deregistered = await store.DeregisterAsync(instanceId, context.RequestAborted).ConfigureAwait(false);
            }
            catch (EtcdUnavailableException e)
            {
                return StoreUnavailable(e, logger);
            }
            if (!deregistered)
            {
                return Results.NotFound();
            }
            Log.Deregistered(logger, instanceId);
            return Results.NoContent();
        });
    }

    /// <summary>A write the shared store could not take: 503, naming etcd, so the sidecar retries (its heartbeats and re-registrations do).</summary>
    private static IResult StoreUnavailable(EtcdUnavailableException e, ILogger logger)
    {
        Log.RegistryWriteFailed(logger, e.Message);
        return Results.Problem(e.Message, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>A refusal when the instance exists and the caller could not have registered it (a sidecar's
    /// own instance: only its service's identity; a Consul or Eureka one: the agent scope too); null otherwise.</summary>
    private static IResult? NotOwner(HttpContext context, SpiffeId caller, ServiceInstance? instance, string action) =>
        instance is not null && !(instance.HasSidecar
            ? instance.Namespace == caller.Namespace && instance.Service == caller.Service
            : WorkloadCertificates.MayRegister(caller, WorkloadCertificates.AgentScope(context.Connection.ClientCertificate), instance.Service, instance.Namespace))
            ? MeshAuthentication.Refuse(context, StatusCodes.Status403Forbidden,
                $"{caller} may not {action} instance '{instance.InstanceId}': it belongs to {instance.Service}.{instance.Namespace}")
            : null;

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
