using System.Net;

namespace Mesh.Core.Failover;

/// <summary>
/// One place a call can go: a URL from the list, and, when its host is a DNS name that resolved to several
/// addresses, the one address this entry connects to (the URL keeps the name, for TLS and Host).
/// </summary>
public sealed record Server(Uri Url, IPAddress? Address)
{
    /// <summary><paramref name="uri"/>'s path and query on this server.</summary>
    public Uri Rebase(Uri uri) => new UriBuilder(Url) { Path = uri.AbsolutePath, Query = uri.Query.TrimStart('?') }.Uri;

    public override string ToString() => Address is null ? Url.GetLeftPart(UriPartial.Authority) : $"{Url.GetLeftPart(UriPartial.Authority)} ({Address})";
}
