using Mesh.Core.Routing;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Telemetry;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Outbound;

/// <summary>
/// First step of the outbound proxy pipeline: YARP has matched the host; this applies the host's
/// VirtualService rules in order (first match wins) and carries out the matched rule: fault injection,
/// redirect or direct response, header changes, rewrite, mirroring, the weighted choice of destination
/// and the route timeout. It answers by itself when no rule matches (404) or the chosen service has no
/// healthy endpoint (503), so the caller never waits.
/// </summary>
internal sealed class OutboundRoutingStep(RequestDelegate next, MeshState state, MirrorSender mirrors)
{
    public Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        // One read of the state for the whole call: its rules and the clusters they name come together.
        var applied = state.Current;
        if (applied is null || !applied.Routes.TryGetHost(proxy.Route.Config.RouteId, out var host))
        {
            return UnknownHostHandler.HandleAsync(context);
        }
        var rule = host.Match(new HttpRouteRequest(context), out var block);
        if (rule is null)
        {
            return MeshResponses.WriteAsync(context, StatusCodes.Status404NotFound, "no-route-match",
                $"mesh: no VirtualService rule for host '{host.Host}' matches {context.Request.Method} {context.Request.Path}.");
        }
        var call = context.Features.Get<OutboundCall>();
        if (call is not null)
        {
            call.Route = rule.Name ?? "";
            call.Rule = rule;
        }
        // The common rule (forward, maybe with header changes) stays synchronous and allocation-light.
        return rule.Fault is null && rule.Timeout is null && rule.Mirror is null
            ? Forward(context, proxy, applied, rule, block, call)
            : ForwardSlowAsync(context, proxy, applied, rule, block, call);
    }

    private async Task ForwardSlowAsync(HttpContext context, IReverseProxyFeature proxy, MeshState.Applied applied, RouteRule rule, RequestMatcher? block, OutboundCall? call)
    {
        if (rule.Fault is { } fault)
        {
            if (fault.ShouldDelay(Random.Shared))
            {
                await Task.Delay(fault.Delay, context.RequestAborted);
            }
            if (fault.ShouldAbort(Random.Shared))
            {
                context.Response.StatusCode = fault.AbortStatus;
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync("fault filter abort");
                return;
            }
        }
        if (rule.DirectResponse is not null || rule.Redirect is not null)
        {
            await Forward(context, proxy, applied, rule, block, call);
            return;
        }
        var destination = Prepare(context, rule, block, call);
        // The copy is taken after rewrites and header changes, as Envoy's shadowing does.
        if (rule.Mirror is { } mirror && mirror.ShouldMirror(Random.Shared))
        {
            await mirrors.TryMirrorAsync(context, mirror);
        }
        if (rule.Timeout is { } timeout)
        {
            await DispatchWithTimeoutAsync(context, proxy, applied, destination, call, timeout);
            return;
        }
        await Dispatch(context, proxy, applied, destination, call);
    }

    /// <summary>
    /// The route timeout covers the whole upstream call. The forwarder stops on RequestAborted, so the
    /// request's token is swapped for one that also fires at the deadline; a call cut short that way
    /// is answered 504, as Envoy does, unless the caller went away first.
    /// </summary>
    private async Task DispatchWithTimeoutAsync(HttpContext context, IReverseProxyFeature proxy, MeshState.Applied applied, WeightedDestination destination, OutboundCall? call, TimeSpan timeout)
    {
        var callerAborted = context.RequestAborted;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(callerAborted);
        deadline.CancelAfter(timeout);
        context.RequestAborted = deadline.Token;
        try
        {
            await Dispatch(context, proxy, applied, destination, call);
        }
        finally
        {
            context.RequestAborted = callerAborted;
        }
        if (deadline.IsCancellationRequested && !callerAborted.IsCancellationRequested)
        {
            if (context.Response.HasStarted)
            {
                context.Abort();
                return;
            }
            context.Response.Clear();
            await MeshResponses.WriteAsync(context, StatusCodes.Status504GatewayTimeout, "upstream-timeout",
                "upstream request timeout");
        }
    }

    private Task Forward(HttpContext context, IReverseProxyFeature proxy, MeshState.Applied applied, RouteRule rule, RequestMatcher? block, OutboundCall? call)
    {
        if (rule.DirectResponse is { } direct)
        {
            return DirectResponse(context, rule, direct);
        }
        if (rule.Redirect is { } redirect)
        {
            return Redirect(context, rule, redirect);
        }
        return Dispatch(context, proxy, applied, Prepare(context, rule, block, call), call);
    }

    /// <summary>Picks the destination and changes the request for it: header edits, then rewrite.</summary>
    private static WeightedDestination Prepare(HttpContext context, RouteRule rule, RequestMatcher? block, OutboundCall? call)
    {
        var destination = rule.Pick(Random.Shared);
        if (call is not null)
        {
            call.Destination = destination.Host;
            call.Subset = destination.Subset ?? "";
        }
        Edit(context.Request.Headers, rule.RequestHeaders);
        Edit(context.Request.Headers, destination.RequestHeaders);
        if (rule.ResponseHeaders is not null || destination.ResponseHeaders is not null)
        {
            EditResponseHeaders(context, rule.ResponseHeaders, destination.ResponseHeaders);
        }
        if (rule.Rewrite is { } rewrite)
        {
            if (rewrite.Uri is not null)
            {
                context.Request.Path = new PathString(rewrite.RewritePath(context.Request.Path.Value ?? "/", block?.UriPrefix));
            }
            if (rewrite.Authority is not null)
            {
                context.Request.Host = new HostString(rewrite.Authority);
            }
        }
        return destination;
    }

    /// <summary>Moves the request to the destination's cluster and forwards it, or answers 503 when it has no endpoint.</summary>
    private Task Dispatch(HttpContext context, IReverseProxyFeature proxy, MeshState.Applied applied, WeightedDestination destination, OutboundCall? call)
    {
        if (!applied.Clusters.TryGetValue(destination.ClusterId, out var cluster))
        {
            return NoEndpoint(context, destination);
        }
        if (!ReferenceEquals(proxy.Cluster, cluster.Proxy))
        {
            context.ReassignProxyRequest(cluster.Proxy);
            proxy = context.GetReverseProxyFeature(); // reassigning sets a new feature
        }
        if (call is not null)
        {
            call.Cluster = cluster;
        }
        if (proxy.AvailableDestinations.Count == 0)
        {
            return NoEndpoint(context, destination);
        }
        return next(context);
    }

    private static Task DirectResponse(HttpContext context, RouteRule rule, DirectResponseAction direct)
    {
        Edit(context.Response.Headers, rule.ResponseHeaders);
        context.Response.StatusCode = direct.Status;
        if (direct.Body.Length == 0)
        {
            return Task.CompletedTask;
        }
        context.Response.ContentType = direct.IsText ? "text/plain; charset=utf-8" : "application/octet-stream";
        context.Response.ContentLength = direct.Body.Length;
        return context.Response.Body.WriteAsync(direct.Body).AsTask();
    }

    private static Task Redirect(HttpContext context, RouteRule rule, RedirectAction redirect)
    {
        var request = context.Request;
        var scheme = redirect.Scheme ?? request.Scheme;
        var host = redirect.Authority ?? HostName.StripPort(request.Host.Value ?? "");
        var port = redirect.Port ?? (redirect.Authority is null ? request.Host.Port : null);
        var authority = port is { } p && !IsDefaultPort(scheme, p) ? $"{host}:{p}" : host;
        var target = redirect.Uri ?? request.Path.Value ?? "/";
        var location = target.Contains('?') ? $"{scheme}://{authority}{target}" : $"{scheme}://{authority}{target}{request.QueryString}";
        Edit(context.Response.Headers, rule.ResponseHeaders);
        context.Response.StatusCode = redirect.Status;
        context.Response.Headers.Location = location;
        return Task.CompletedTask;
    }

    private static bool IsDefaultPort(string scheme, int port) =>
        (port == 80 && scheme == Uri.UriSchemeHttp) || (port == 443 && scheme == Uri.UriSchemeHttps);

    private static void EditResponseHeaders(HttpContext context, HeaderEdits? ruleEdits, HeaderEdits? destinationEdits)
    {
        context.Response.OnStarting(static s =>
        {
            var (headers, first, second) = ((IHeaderDictionary, HeaderEdits?, HeaderEdits?))s;
            Edit(headers, first);
            Edit(headers, second);
            return Task.CompletedTask;
        }, (context.Response.Headers, ruleEdits, destinationEdits));
    }

    /// <summary>Istio's order: remove, then set (replacing), then add (appending).</summary>
    private static void Edit(IHeaderDictionary headers, HeaderEdits? edits)
    {
        if (edits is null)
        {
            return;
        }
        foreach (var name in edits.Remove)
        {
            headers.Remove(name);
        }
        foreach (var (name, value) in edits.Set)
        {
            headers[name] = value;
        }
        foreach (var (name, value) in edits.Add)
        {
            headers[name] = headers.TryGetValue(name, out var existing) ? StringValues.Concat(existing, value) : new StringValues(value);
        }
    }

    private static Task NoEndpoint(HttpContext context, WeightedDestination destination)
    {
        var subset = destination.Subset is null ? "" : $" (subset {destination.Subset})";
        return MeshResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no-healthy-endpoint",
            $"mesh: no healthy endpoint for service '{destination.Host}'{subset}.");
    }
}
