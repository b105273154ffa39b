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
