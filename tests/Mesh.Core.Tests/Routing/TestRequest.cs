using Mesh.Core.Routing;

namespace Mesh.Core.Tests.Routing;

/// <summary>A request for route-matching tests.</summary>
public readonly record struct TestRequest(string Path, string Method = "GET", string Authority = "reviews", Dictionary<string, string>? Headers = null, Dictionary<string, string>? Query = null)
    : IRouteRequest
{
    public string? GetHeader(string name) => Headers?.GetValueOrDefault(name.ToLowerInvariant());
    public string? GetQuery(string name) => Query?.GetValueOrDefault(name);
}
