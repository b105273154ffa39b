using Mesh.Core.Routing;

namespace Mesh.Sidecar.Outbound;

/// <summary>The request as route matching sees it; a struct so matching does not allocate.</summary>
internal readonly struct HttpRouteRequest(HttpContext context) : IRouteRequest
{
    public string Method => context.Request.Method;
    public string Path => context.Request.Path.Value is { Length: > 0 } path ? path : "/";
    public string Authority => context.Request.Host.Value ?? "";
    public string? GetHeader(string name) => context.Request.Headers.TryGetValue(name, out var value) ? value.ToString() : null;
    public string? GetQuery(string name) => context.Request.Query.TryGetValue(name, out var value) ? value.ToString() : null;
}
