using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.ControlPlane.Limits;

/// <summary>
/// Kestrel's limits on both control-plane listeners (the sidecar API and the admin API), and the
/// request body limits per endpoint. A request over one is refused before any of it reaches an
/// endpoint: 431 for headers, 414 for the request line, 413 for bodies, and a slow client is cut off.
/// The values and Envoy's and Consul's beside them are in docs/security.md ("Hostile input").
/// </summary>
internal static class RequestLimits
{
    /// <summary>
    /// The snapshot watch carries the sidecar's rejection reason in its query string, which can run to a
    /// few KiB; twice Kestrel's 8 KiB default. (Envoy has no separate request-line limit: the path counts
    /// towards its 60 KiB of headers.)
    /// </summary>
    public const int MaxRequestLineSize = 16 * 1024;

    /// <summary>
    /// Sidecars and meshctl send well under 1 KiB of headers (a bearer token, trace context); Kestrel's
    /// default 32 KiB leaves room for any proxy in between. Envoy's default is 60 KiB.
    /// </summary>
    public const int MaxRequestHeadersTotalSize = 32 * 1024;

    /// <summary>Our clients send fewer than 15 headers; Envoy's default is 100 (and Kestrel's).</summary>
    public const int MaxRequestHeaderCount = 50;

    /// <summary>
    /// A request's headers must all arrive within this time, or the connection is closed (a slowloris
    /// trickling headers holds a connection no longer). Sidecars send theirs in one packet. Kestrel's
    /// default is 30 s; Envoy has none by default (its request_headers_timeout is off).
    /// </summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An idle keep-alive connection is closed after this. Longer than the sidecars' pooled-connection
    /// idle timeout (2 minutes), so the client, not the server, closes idle connections and a request
    /// never races a server-side close. Kestrel's default (130 s); Envoy's idle_timeout is 1 hour.
    /// </summary>
    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(130);

    /// <summary>
    /// A TLS handshake on the sidecar API must finish within this (Kestrel's default 10 s; Consul's
    /// https_handshake_timeout is 5 s): a client that opens connections and never finishes the
    /// handshake holds each no longer.
    /// </summary>
    public static readonly TimeSpan TlsHandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A body must arrive at at least 240 bytes/s after a 5 s grace (Kestrel's default): our largest
    /// bodies, YAML applied with meshctl, come from a local process; a CSR is under 2 KiB.
    /// </summary>
    public static readonly MinDataRate MinRequestBodyDataRate = new(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));

    /// <summary>
    /// Every body unless its endpoint says otherwise: heartbeats, join-token requests and the like are
    /// under 1 KiB. Kestrel's default is 30 MB; Envoy has none (its buffer filter's is set per route).
    /// </summary>
    public const long DefaultMaxBodySize = 64 * 1024;

    /// <summary>A CSR: an ECDSA P-256 CSR in PEM is about 600 bytes, an RSA-4096 one under 2 KiB.</summary>
    public const long MaxCsrBodySize = 16 * 1024;

    /// <summary>A registration: ids, address and labels; 64 KiB is hundreds of labels (Kubernetes caps a label value at 63 characters).</summary>
    public const long MaxRegistrationBodySize = 64 * 1024;

    /// <summary>
    /// YAML posted to /v1/apply, /v1/validate and /v1/delete: a file of many resources. The Kubernetes
    /// API server takes up to 3 MiB per request (etcd 1.5 MiB per object); 4 MiB holds any config file
    /// a mesh of this size needs.
    /// </summary>
    public const long MaxConfigBodySize = 4 * 1024 * 1024;

    public static void Apply(KestrelServerLimits limits)
    {
        limits.MaxRequestLineSize = MaxRequestLineSize;
        limits.MaxRequestHeadersTotalSize = MaxRequestHeadersTotalSize;
        limits.MaxRequestHeaderCount = MaxRequestHeaderCount;
        limits.RequestHeadersTimeout = RequestHeadersTimeout;
        limits.KeepAliveTimeout = KeepAliveTimeout;
        limits.MinRequestBodyDataRate = MinRequestBodyDataRate;
        limits.MaxRequestBodySize = DefaultMaxBodySize;
    }

    /// <summary>Endpoint metadata setting its body limit (applied by endpoint routing before the body is read).</summary>
    public static TBuilder WithBodyLimit<TBuilder>(this TBuilder builder, long bytes) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new BodyLimit(bytes));

    /// <summary>The body limit of the endpoint a request was routed to.</summary>
    public static long BodyLimitOf(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<IRequestSizeLimitMetadata>()?.MaxRequestBodySize ?? DefaultMaxBodySize;

    private sealed record BodyLimit(long Bytes) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize => Bytes;
    }
}
