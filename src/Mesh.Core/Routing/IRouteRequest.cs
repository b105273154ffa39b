namespace Mesh.Core.Routing;

/// <summary>The parts of a request that route matching reads; the sidecar implements it over HttpContext
/// as a struct, so matching allocates nothing.</summary>
public interface IRouteRequest
{
    string Method { get; }
    string Path { get; }
    string Authority { get; }
    string? GetHeader(string name);
    string? GetQuery(string name);
}
