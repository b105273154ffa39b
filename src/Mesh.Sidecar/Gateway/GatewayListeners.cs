using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using Mesh.Core.Config.Model;
using Mesh.Core.Routing;
using Mesh.Sidecar.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Mesh.Sidecar.Gateway;

/// <summary>
/// The gateway's ports: compiles its Gateway resource into a <see cref="GatewayPlan"/> when the config
/// changes (certificate files are read then, and again when they change on disk), tells Kestrel which
/// ports to bind, and terminates TLS on HTTPS ones, where the client's SNI picks the server and so the certificate.
/// </summary>
internal sealed class GatewayListeners(SidecarOptions options, ILogger<GatewayListeners> logger)
{
    private static readonly List<SslApplicationProtocol> Alpn = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];
    private GatewayPlan _plan = GatewayPlan.Empty;
    private readonly Lock _gate = new();
    private ConfigSet? _compiledFrom;

    public GatewayEndpoints Endpoints { get; } = new();

    public GatewayPlan Plan => Volatile.Read(ref _plan);

    public bool IsListening(int port) => Plan.TryGetListener(port, out _);

    /// <summary>Compiles the Gateway of <paramref name="config"/>; an endpoint-only snapshot (same config object) changes nothing.</summary>
    public void Apply(ConfigSet config)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(config, _compiledFrom))
            {
                _compiledFrom = config;
                Publish(config, renewal: false);
            }
        }
    }

    /// <summary>Reads the certificates again when a file of theirs changed on disk (a renewal), so new handshakes use the new ones.</summary>
    public bool ReloadIfCertificatesChanged()
    {
        lock (_gate)
        {
            if (_compiledFrom is not { } config || !Plan.Listeners.SelectMany(l => l.Servers).Any(s => s.Tls?.Changed == true))
            {
                return false;
            }
            Log.GatewayCertificatesChanged(logger);
            Publish(config, renewal: true);
            return true;
        }
    }

    /// <param name="renewal">Only the files changed: a certificate that does not load (yet: its key still being
    /// written, say) keeps the one it replaces, and is tried again when its files change once more.</param>
    private void Publish(ConfigSet config, bool renewal)
    {
        var gateway = config.Gateways.FirstOrDefault(g => g.Metadata.Namespace == options.Namespace && g.Metadata.Name == options.Gateway);
        if (gateway is null)
        {
            Log.GatewayMissing(logger, options.Namespace, options.Gateway!);
        }
        var plan = Compile(gateway?.Spec, renewal ? Plan : null);
        var before = Plan;
        Volatile.Write(ref _plan, plan);
        // Every config change compiles the plan again (and reads the certificates); only a change of ports or hosts is logged.
        foreach (var listener in plan.Listeners.Where(l => !before.TryGetListener(l.ListenPort, out var was) || Summary(was) != Summary(l)))
        {
            Log.GatewayListener(logger, listener.PublicPort, listener.Https ? "HTTPS" : "HTTP", options.GatewayListen, listener.ListenPort, Hosts(listener));
        }
        if (!before.Listeners.Select(l => (l.ListenPort, l.Https)).SequenceEqual(plan.Listeners.Select(l => (l.ListenPort, l.Https))))
        {
            Endpoints.Set(plan.Listeners, options.GatewayListen);
        }

        static string Hosts(GatewayListener l) => string.Join(", ", l.Servers.SelectMany(s => s.Hosts).Distinct());
        static string Summary(GatewayListener l) => $"{l.Https} {Hosts(l)}";
    }

    private GatewayPlan Compile(Mesh.Core.Config.Model.Gateway? gateway, GatewayPlan? previous)
    {
        var listeners = new Dictionary<int, GatewayListener>();
        foreach (var group in (gateway?.Servers ?? []).Where(s => s.Port is not null).GroupBy(s => s.Port!.Number))
        {
            var https = string.Equals(group.First().Port!.Protocol, "HTTPS", StringComparison.OrdinalIgnoreCase);
            var listenPort = options.GatewayListenPort(group.Key);
            var servers = group.Select((s, i) =>
            {
                var tls = https && s.Tls is { } settings ? GatewayTlsMaterial.Load(settings, options.CredentialsDir) : null;
                if (tls?.Problem is { } problem)
                {
                    Log.GatewayCertificateProblem(logger, group.Key, problem);
                    if (previous is not null && previous.TryGetListener(listenPort, out var was) && i < was.Servers.Count && was.Servers[i].Tls is { Certificate: not null } kept)
                    {
                        tls = kept with { Files = tls.Files };
                    }
                }
                var hosts = s.Hosts.Select(h => GatewayBinding.ServerHost(h, options.Namespace).Host).ToArray();
                return new GatewayServerPlan(hosts, !https && s.Tls?.HttpsRedirect == true, tls);
            }).ToArray();
            if (listenPort is < 1 or > 65535)
            {
                Log.GatewayPortOutOfRange(logger, group.Key, listenPort);
                continue;
            }
            listeners[listenPort] = new GatewayListener(group.Key, listenPort, https, servers);
        }
        return new GatewayPlan(listeners);
    }

    /// <summary>Kestrel calls this for every endpoint it binds; the gateway's HTTPS ports get TLS with a per-handshake choice of certificate.</summary>
    public void ConfigureEndpoint(ListenOptions listen)
    {
        if (listen.IPEndPoint is not { } endpoint || !Plan.TryGetListener(endpoint.Port, out var listener) || !listener.Https)
        {
            return;
        }
        listen.Protocols = HttpProtocols.Http1AndHttp2;
        listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = context => ValueTask.FromResult(ServerOptions(context)),
            HandshakeTimeout = TimeSpan.FromSeconds(10),
        });
    }

    private SslServerAuthenticationOptions ServerOptions(TlsHandshakeCallbackContext context)
    {
        var port = (context.Connection.LocalEndPoint as IPEndPoint)?.Port ?? 0;
        var sni = context.ClientHelloInfo.ServerName ?? "";
        if (!Plan.TryGetListener(port, out var listener) || listener.ServerFor(sni) is not { Tls: { } tls })
        {
            Log.GatewayTlsRefused(logger, port, sni, "no HTTPS server of the Gateway serves this name");
            throw new AuthenticationException($"no HTTPS server on port {port} serves '{sni}'");
        }
        if (tls.Certificate is null)
        {
            Log.GatewayTlsRefused(logger, port, sni, tls.Problem ?? "no certificate");
            throw new AuthenticationException(tls.Problem);
        }
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = tls.Certificate,
            ApplicationProtocols = Alpn,
            ClientCertificateRequired = tls.ClientRoots is not null,
            CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = tls.ClientRoots is null ? null : (_, certificate, _, _) => tls.Trusts(certificate),
        };
    }
}
