namespace Mesh.Sidecar.Discovery;

/// <summary>The plain answers the Consul and Eureka APIs share: a bare 200, and an error as text saying why.</summary>
internal static class DiscoveryAnswers
{
    public static Task Ok(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        return Task.CompletedTask;
    }

    public static Task Text(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text, context.RequestAborted);
    }
}
