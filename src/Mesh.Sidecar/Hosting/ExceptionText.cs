namespace Mesh.Sidecar.Hosting;

internal static class ExceptionText
{
    /// <summary>The innermost message ("Connection refused (127.0.0.1:15012)") rather than "see inner exception".</summary>
    public static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }
        return e is OperationCanceledException ? "timed out" : inner.Message;
    }
}
