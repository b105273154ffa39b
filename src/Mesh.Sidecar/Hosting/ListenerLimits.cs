using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.Sidecar.Hosting;

/// <summary>
/// Kestrel's limits on the sidecar's three listeners (outbound, inbound, admin). The outbound and
/// inbound ports carry the app's own traffic, so the limits follow Envoy's defaults, which Istio's and
/// other meshes' apps are written against, rather than Kestrel's tighter ones: a request Envoy would
/// pass, Mesh passes. Over a limit, Kestrel answers before anything is forwarded: 431 for headers, 414
/// for the request line, and a slow client is cut off. The table beside Envoy's is in docs/security.md ("Hostile input").
/// </summary>
internal static class ListenerLimits
{
    /// <summary>
    /// Envoy has no separate request-line limit (the path counts towards its 60 KiB of headers); 16 KiB is
    /// twice Kestrel's default and holds the long query strings some APIs use.
    /// </summary>
    public const int MaxRequestLineSize = 16 * 1024;

    /// <summary>Envoy's max_request_headers_kb default (60). Kestrel's default is 32 KiB.</summary>
    public const int MaxRequestHeadersTotalSize = 60 * 1024;

    /// <summary>Envoy's max_headers_count default, and Kestrel's.</summary>
    public const int MaxRequestHeaderCount = 100;

    /// <summary>
    /// Between sidecars a call travels over HTTP/2, where Kestrel limits each header field on its own (16 KiB
    /// by default): one header the outbound port took must not be refused on the next hop, so a field may
    /// be as large as all headers together.
    /// </summary>
    public const int MaxHttp2HeaderFieldSize = MaxRequestHeadersTotalSize;

    /// <summary>
    /// A request's headers must all arrive within this time or the connection is closed: a slowloris
    /// trickling headers holds a connection no longer. Kestrel's default is 30 s; Envoy's
    /// request_headers_timeout is off by default (Istio leaves it off), which leaves a trickle unbounded.
    /// </summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Idle keep-alive connections close after Kestrel's default 130 s: longer than .NET's and YARP's
    /// pooled-connection idle timeouts (1-2 minutes), so the client closes idle connections and a request
    /// never races a server-side close. Envoy's idle_timeout is 1 hour.
    /// </summary>
    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(130);

    /// <summary>
    /// A body must arrive at 240 bytes/s or more after a 5 s grace (Kestrel's default; Envoy has no rate,
    /// only its 5-minute stream_idle_timeout): a client trickling a body is cut off within seconds.
    /// </summary>
    public static readonly MinDataRate MinRequestBodyDataRate = new(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));

    public static void Apply(KestrelServerLimits limits)
    {
        limits.MaxRequestLineSize = MaxRequestLineSize;
        limits.MaxRequestHeadersTotalSize = MaxRequestHeadersTotalSize;
        limits.MaxRequestHeaderCount = MaxRequestHeaderCount;
        limits.Http2.MaxRequestHeaderFieldSize = MaxHttp2HeaderFieldSize;
        limits.RequestHeadersTimeout = RequestHeadersTimeout;
        limits.KeepAliveTimeout = KeepAliveTimeout;
        limits.MinRequestBodyDataRate = MinRequestBodyDataRate;
        // Bodies are streamed through, never buffered, so their size costs the sidecar nothing: no cap, as
        // Envoy. Kestrel's 30 MB default refused uploads the app itself accepts. The app sets its own.
        limits.MaxRequestBodySize = null;
    }
}
