using System.Text.Json;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Outbound;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Registration;
using Mesh.Sidecar.Resilience;
using Mesh.Observability;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Admin;

/// <summary>The admin port (127.0.0.1 only): readiness, liveness, the applied config and the endpoints.</summary>
internal sealed class AdminHandler(Readiness readiness, MeshState state, IProxyStateLookup proxy, RegistrationAgent registration, SidecarOptions options, ResilienceRegistry resilience)
{
    public Task InvokeAsync(HttpContext context) => context.Request.Path.Value switch
    {
        "/ready" => Ready(context),
        "/live" => Text(context, StatusCodes.Status200OK, "live"),
        "/config_dump" => ConfigDump(context),
        "/clusters" => Clusters(context),
        _ => Text(context, StatusCodes.Status404NotFound, "admin endpoints: /ready /live /config_dump /clusters /metrics"),
    };

    private Task Ready(HttpContext context) =>
        registration.Draining ? Text(context, StatusCodes.Status503ServiceUnavailable, "not ready: draining (shutting down)")
        : readiness.IsReady ? Text(context, StatusCodes.Status200OK, readiness.Reason)
        : Text(context, StatusCodes.Status503ServiceUnavailable, "not ready: " + readiness.Reason);

    private Task ConfigDump(HttpContext context)
    {
        var applied = state.Current;
        return RedactedJson(context, new
        {
            node = options.NodeId,
            service = options.Service,
            @namespace = options.Namespace,
            registered = registration.Registered,
            version = applied?.Snapshot.Version ?? 0,
            configVersion = applied?.Snapshot.ConfigVersion ?? 0,
            source = applied?.Source,
            appliedAt = applied?.AppliedAt,
            config = applied?.Snapshot.Config,
            instances = applied?.Snapshot.Instances,
        });
    }

    private Task Clusters(HttpContext context)
    {
        var clusters = proxy.GetClusters()
            .Where(c => c.ClusterId != ProxyConfigBuilder.LocalAnswerCluster)
            .OrderBy(c => c.ClusterId, StringComparer.Ordinal)
            .Select(c => (c, outliers: resilience.Find(c.ClusterId)?.Outliers))
            .Select(x => new
            {
                cluster = x.c.ClusterId,
                loadBalancer = x.c.Model.Config.LoadBalancingPolicy,
                endpoints = x.c.Destinations.Values.OrderBy(d => d.DestinationId, StringComparer.Ordinal).Select(d => new
                {
                    instance = d.DestinationId,
                    address = d.Model.Config.Address,
                    region = d.Model.Config.Metadata?.GetValueOrDefault(LocalityStep.RegionKey),
                    zone = d.Model.Config.Metadata?.GetValueOrDefault(LocalityStep.ZoneKey),
                    health = d.Health.Passive.ToString(),
                    ejected = x.outliers?.IsEjected(d.DestinationId) == true,
                    ejectedUntil = x.outliers?.EjectedUntil(d.DestinationId),
                    inFlight = d.ConcurrentRequestCount,
                }),
            });
        return Json(context, clusters);
    }

    private static Task Text(HttpContext context, int status, string body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(body + "\n");
    }

    /// <summary>The applied config never shows a key or token, whatever a future snapshot carries.</summary>
    private static Task RedactedJson(HttpContext context, object value)
    {
        var node = SecretRedactor.Redact(JsonSerializer.SerializeToNode(value, MeshJson.Indented));
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(node?.ToJsonString(MeshJson.Indented) ?? "null");
    }

    private static Task Json(HttpContext context, object value)
    {
        context.Response.ContentType = "application/json";
        return context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(value, MeshJson.Indented)).AsTask();
    }
}
