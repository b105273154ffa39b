using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Mesh.Core.Config.Model;
using Mesh.Sidecar.Hosting;
using Mesh.Sidecar.Security;

namespace Mesh.Sidecar.Transport;

/// <summary>
/// How this sidecar reaches another sidecar's inbound port, by the destination's DestinationRule
/// <c>tls.mode</c>: ISTIO_MUTUAL (the default) is TLS 1.3 with this sidecar's workload certificate,
/// HTTP/2 multiplexed, and the server must prove the SPIFFE id of the service the call is for;
/// SIMPLE is the same without a client certificate; DISABLE is plaintext HTTP/1.1. ServiceEntry
/// hosts are reached directly with the system's trust store.
/// </summary>
internal sealed class MeshTransport(WorkloadIdentity identity, TimeProvider time, BenchmarkSwitches switches, ILogger<MeshTransport> logger)
{
    /// <summary>Cluster metadata: the tls mode ("ISTIO_MUTUAL", "SIMPLE", "DISABLE", or "EXTERNAL").</summary>
    public const string TlsKey = "mesh.tls";

    /// <summary>Cluster metadata: the identity the server must have, "namespace/service".</summary>
    public const string IdentityKey = "mesh.identity";

    /// <summary>Cluster metadata: the peered trust domains some of the cluster's endpoints (imported from other regions) prove, comma-separated.</summary>
    public const string TrustDomainsKey = "mesh.trustDomains";

    public const string External = "EXTERNAL";

    /// <summary>Connections are remade at least this often, so they pick up renewed certificates.</summary>
    public static readonly TimeSpan ConnectionLifetime = TimeSpan.FromMinutes(5);

    public static string ModeName(TlsMode? mode) => mode switch
    {
        TlsMode.Disable => "DISABLE",
        TlsMode.Simple => "SIMPLE",
        _ => "ISTIO_MUTUAL",
    };

    public static (string Scheme, Version Version) For(string mode) =>
        mode == "DISABLE" ? ("http", HttpVersion.Version11) : ("https", HttpVersion.Version20);

    public void ConfigureHandler(SocketsHttpHandler handler, IReadOnlyDictionary<string, string>? metadata)
    {
        var mode = metadata?.GetValueOrDefault(TlsKey);
        if (mode == External && ExternalTls.Applies(metadata!))
        {
            if (ExternalTls.Configure(handler, metadata!) is { } problem)
            {
                Log.ExternalTlsUnusable(logger, metadata!.GetValueOrDefault("host") ?? "?", problem);
            }
            return;
        }
        if (mode is not ("ISTIO_MUTUAL" or "SIMPLE"))
        {
            return; // plaintext, or an external host checked against the system's roots
        }
        var expected = metadata!.GetValueOrDefault(IdentityKey) ?? "";
        var peered = (metadata!.GetValueOrDefault(TrustDomainsKey) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        handler.PooledConnectionLifetime = ConnectionLifetime;
        handler.SslOptions.EnabledSslProtocols = SslProtocols.Tls13;
        handler.SslOptions.CertificateRevocationCheckMode = X509RevocationMode.NoCheck;
        if (mode == "ISTIO_MUTUAL")
        {
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => identity.Value?.Certificate!;
        }
        handler.SslOptions.RemoteCertificateValidationCallback = switches.Spiffe
            ? (_, certificate, _, _) => CheckServer(certificate, expected, peered)
            : (_, _, _, _) => true;
    }

    /// <summary>The server must be a workload of this mesh with the identity of the service called (not any mesh member).</summary>
    private bool CheckServer(X509Certificate? certificate, string expected, string[] peered)
    {
        var problem = identity.CheckPeer(certificate, time.GetUtcNow(), out var peer);
        if (problem is null && $"{peer!.Namespace}/{peer.Service}" != expected)
        {
            problem = $"server identity {peer} is not the expected service {expected}";
        }
        // Another region's workload may answer only for a host that region's control plane exported here.
        if (problem is null && peer!.TrustDomain != identity.Value?.TrustDomain && !peered.Contains(peer.TrustDomain, StringComparer.Ordinal))
        {
            problem = $"server identity {peer} is from trust domain '{peer.TrustDomain}', which exports no endpoint of {expected} to this region";
        }
        if (problem is not null)
        {
            Log.UpstreamIdentityRejected(logger, expected, problem);
        }
        return problem is null;
    }
}
