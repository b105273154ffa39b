using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>The TLS side of <see cref="EtcdClientSecurity"/>: whom to trust for etcd's serving certificate, and what to present to it.</summary>
internal static class EtcdTls
{
    /// <summary>The client TLS options of every member's channel; null when no TLS file is given (the system's roots, no client certificate).</summary>
    public static SslClientAuthenticationOptions? ClientOptions(EtcdClientSecurity security)
    {
        if (security.CaCertPath is null && security.CertPath is null)
        {
            return null;
        }
        var options = new SslClientAuthenticationOptions();
        if (security.CaCertPath is { } ca)
        {
            // Only this CA vouches for etcd (as etcdctl's --cacert): the host name is still checked against the endpoint's.
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(LoadCertificates(ca, "--etcd-cacert"));
            options.CertificateChainPolicy = policy;
        }
        if (security.CertPath is { } cert)
        {
            options.ClientCertificates = [LoadClientCertificate(cert, security.KeyPath!)];
        }
        return options;
    }

    /// <summary>
    /// One TLS handshake with a member, then the start of HTTP/2, and one read: with TLS 1.3 a member that
    /// refuses our client certificate says so only in an alert after the handshake, which gRPC reports as a
    /// broken connection like any other. Null when the member answered or could not be reached at all; the
    /// handshake's own error otherwise.
    /// </summary>
    public static async Task<string?> ProbeAsync(Uri endpoint, SslClientAuthenticationOptions? configured, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        using var tcp = new System.Net.Sockets.TcpClient();
        try
        {
            await tcp.ConnectAsync(endpoint.Host, endpoint.Port, cancel.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return null; // not up: not a TLS problem
        }
        await using var tls = new SslStream(tcp.GetStream());
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = endpoint.IdnHost,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                ClientCertificates = configured?.ClientCertificates,
                CertificateChainPolicy = configured?.CertificateChainPolicy,
            }, cancel.Token).ConfigureAwait(false);
            // HTTP/2's client preface and an empty SETTINGS frame; the member answers with its SETTINGS, or an alert.
            await tls.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray().Concat(new byte[] { 0, 0, 0, 4, 0, 0, 0, 0, 0 }).ToArray(), cancel.Token).ConfigureAwait(false);
            var answer = new byte[9];
            return await tls.ReadAsync(answer, cancel.Token).ConfigureAwait(false) > 0 ? null : "the member closed the connection after the TLS handshake";
        }
        catch (OperationCanceledException)
        {
            return null; // a hung member: the stores' own timeouts deal with it
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            return Innermost(e);
        }
    }

    private static string Innermost(Exception e)
    {
        while (e.InnerException is { } inner)
        {
            e = inner;
        }
        return e.Message;
    }

    private static X509Certificate2Collection LoadCertificates(string path, string flag)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new InvalidOperationException($"{flag}: '{path}' is not a PEM certificate: {e.Message}", e);
        }
        return certificates.Count > 0 ? certificates : throw new InvalidOperationException($"{flag}: '{path}' holds no PEM certificate");
    }

    private static X509Certificate2 LoadClientCertificate(string cert, string key)
    {
        try
        {
            using var loaded = X509Certificate2.CreateFromPemFile(cert, key);
            // Through PKCS#12, so the key stays usable by SslStream on every platform (an ephemeral PEM key is not on Windows).
            return X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), null);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new InvalidOperationException($"--etcd-cert/--etcd-key: '{cert}' with '{key}' is not a PEM certificate and its private key: {e.Message}", e);
        }
    }
}
