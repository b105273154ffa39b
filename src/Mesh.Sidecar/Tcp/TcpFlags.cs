using Mesh.Core.Hosting;
using Mesh.Core.Routing;

namespace Mesh.Sidecar.Tcp;

/// <summary>A TCP service port of this sidecar's app: callers name <see cref="Number"/>, the bytes go to 127.0.0.1:<see cref="AppPort"/>.</summary>
internal sealed record AppTcpPort(int Number, string Protocol, int AppPort);

/// <summary>A local listener (127.0.0.1:<see cref="LocalPort"/>) whose connections go to port <see cref="Port"/> of <see cref="Host"/>, by its tcp rules.</summary>
internal sealed record TcpUpstream(string Host, int Port, int LocalPort);

/// <summary>A local listener whose TLS connections are routed by their SNI, as calls to service port <see cref="Port"/> (tls rules, ServiceEntry hosts).</summary>
internal sealed record TlsUpstream(int Port, int LocalPort);

/// <summary>The sidecar's TCP flags, parsed strictly: every bad value says which flag and what would be right.</summary>
internal static class TcpFlags
{
    /// <summary>Istio's protocols Mesh carries as opaque bytes.</summary>
    public static readonly string[] OpaqueProtocols = ["TCP", "MONGO", "MYSQL", "REDIS"];

    /// <summary><c>--app-tcp-port [PROTOCOL/]NUMBER=APP_PORT</c>, e.g. <c>REDIS/6379=16379</c>.</summary>
    public static AppTcpPort[] AppPorts(IReadOnlyDictionary<string, string> given) => given.Select(kv =>
    {
        var slash = kv.Key.IndexOf('/');
        var protocol = slash < 0 ? "TCP" : kv.Key[..slash].ToUpperInvariant();
        var number = slash < 0 ? kv.Key : kv.Key[(slash + 1)..];
        if (!OpaqueProtocols.Contains(protocol))
        {
            throw new UsageException($"--app-tcp-port protocol '{kv.Key[..slash]}' is not carried as TCP; use one of {string.Join(", ", OpaqueProtocols)} (e.g. REDIS/6379=16379)");
        }
        return new AppTcpPort(Port("app-tcp-port", number, $"{kv.Key}={kv.Value}", "[PROTOCOL/]NUMBER=APP_PORT, e.g. 5432=15432"), protocol,
            Port("app-tcp-port", kv.Value, $"{kv.Key}={kv.Value}", "[PROTOCOL/]NUMBER=APP_PORT, e.g. 5432=15432"));
    }).ToArray();

    /// <summary><c>--tcp-upstream HOST:PORT=LOCAL_PORT</c>, e.g. <c>orders-db:5432=15432</c>.</summary>
    public static TcpUpstream[] Upstreams(IReadOnlyDictionary<string, string> given) => given.Select(kv =>
    {
        const string Shape = "HOST:PORT=LOCAL_PORT, e.g. orders-db:5432=15432";
        var written = $"{kv.Key}={kv.Value}";
        var colon = kv.Key.LastIndexOf(':');
        if (colon <= 0 || !HostName.IsValid(kv.Key[..colon]) || kv.Key.StartsWith('*'))
        {
            throw new UsageException($"--tcp-upstream expects {Shape}, got '{written}'");
        }
        return new TcpUpstream(kv.Key[..colon], Port("tcp-upstream", kv.Key[(colon + 1)..], written, Shape), Port("tcp-upstream", kv.Value, written, Shape));
    }).ToArray();

    /// <summary><c>--tls-upstream PORT=LOCAL_PORT</c>, e.g. <c>443=15443</c>.</summary>
    public static TlsUpstream[] TlsUpstreams(IReadOnlyDictionary<string, string> given) => given.Select(kv =>
    {
        const string Shape = "PORT=LOCAL_PORT, e.g. 443=15443";
        var written = $"{kv.Key}={kv.Value}";
        return new TlsUpstream(Port("tls-upstream", kv.Key, written, Shape), Port("tls-upstream", kv.Value, written, Shape));
    }).ToArray();

    private static int Port(string flag, string text, string written, string shape) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
            ? port
            : throw new UsageException($"--{flag} expects {shape} (ports 1-65535), got '{written}'");
}
