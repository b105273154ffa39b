namespace Mesh.Sidecar.Outbound;

/// <summary>Answers the sidecar gives itself, in plain text that names what went wrong.</summary>
internal static class MeshResponses
{
    public const string ErrorHeader = "x-mesh-error";

    public static Task WriteAsync(HttpContext context, int status, string reason, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers[ErrorHeader] = reason;
        return context.Response.WriteAsync(message + "\n");
    }
}
