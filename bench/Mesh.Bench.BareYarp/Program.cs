using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Forwarder;

// A bare YARP sidecar, one half of a pair:
//   Mesh.Bench.BareYarp client <listen-port> <server-port>    plain HTTP/1.1 in, TLS 1.3 + HTTP/2 out
//   Mesh.Bench.BareYarp server <listen-port> <upstream-port>  TLS 1.3 + HTTP/2 in, plain HTTP/1.1 out
// Nothing but Kestrel and YARP's forwarder: it shows what the framework path costs without Mesh's
// features (routing rules, retries, outlier detection, telemetry, SPIFFE identity). The server
// certificate is made at start; the client does not check it and sends none (lighter than mutual TLS).
if (args.Length != 3 || args[0] is not ("client" or "server"))
{
    Console.Error.WriteLine("usage: Mesh.Bench.BareYarp client|server <listen-port> <target-port>");
    return 2;
}
var client = args[0] == "client";
var listen = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
var target = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.Services.AddHttpForwarder();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Listen(IPAddress.Loopback, listen, l =>
    {
        if (client)
        {
            l.Protocols = HttpProtocols.Http1;
            return;
        }
        l.Protocols = HttpProtocols.Http1AndHttp2;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=bare-yarp", key, HashAlgorithmName.SHA256);
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certificate = X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12), null);
        l.UseHttps(https => https.ServerCertificate = certificate);
    });
});
var app = builder.Build();

var handler = new SocketsHttpHandler
{
    UseProxy = false,
    AllowAutoRedirect = false,
    AutomaticDecompression = DecompressionMethods.None,
    UseCookies = false,
    EnableMultipleHttp2Connections = true,
    ActivityHeadersPropagator = null,
    SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true },
};
var invoker = new HttpMessageInvoker(handler);
var destination = client ? $"https://127.0.0.1:{target}" : $"http://127.0.0.1:{target}";
var config = new ForwarderRequestConfig
{
    Version = client ? HttpVersion.Version20 : HttpVersion.Version11,
    VersionPolicy = HttpVersionPolicy.RequestVersionExact,
};
var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
app.Run(async context => await forwarder.SendAsync(context, destination, invoker, config, HttpTransformer.Default));
app.Run();
return 0;
