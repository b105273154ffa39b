using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Core.Security;

/// <summary>Making and checking workload certificates: the parts the control plane (the CA) and sidecars share.</summary>
public static class WorkloadCertificates
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    /// <summary>
    /// A non-critical extension naming what else this workload's discovery agent may register: a namespace,
    /// or <see cref="AnyNamespace"/>. It is set by the CA from the join token the first certificate was bought
    /// with (a namespace token: that namespace; an unscoped token: any), copied by the CA on renewal, and never
    /// taken from a CSR. A certificate without it may register only its own service. (An OID under 2.25, the
    /// UUID arc, which needs no registration.)
    /// </summary>
    public const string AgentScopeOid = "2.25.208433599011234885926207061338151729003";

    public const string AnyNamespace = "*";

    /// <summary>
    /// Why <paramref name="leaf"/> is not a valid workload certificate of this mesh at <paramref name="now"/>,
    /// or null when it is (then <paramref name="id"/> is its identity). The reason names no secret.
    /// </summary>
    public static string? Check(X509Certificate2 leaf, X509Certificate2 root, string trustDomain, DateTimeOffset now, out SpiffeId? id)
    {
        id = null;
        if (now < leaf.NotBefore.ToUniversalTime() || now > leaf.NotAfter.ToUniversalTime())
        {
            return $"certificate {leaf.SerialNumber} is not valid now (valid {leaf.NotBefore.ToUniversalTime():u} to {leaf.NotAfter.ToUniversalTime():u})";
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (!chain.Build(leaf))
        {
            var status = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
            return $"certificate '{leaf.Subject}' does not chain to the mesh root ({status})";
        }
        id = SpiffeId.FromCertificate(leaf);
        if (id is null)
        {
            return $"certificate '{leaf.Subject}' has no SPIFFE id (spiffe://<trust-domain>/ns/<namespace>/sa/<service>) in its URI SAN";
        }
        if (id.TrustDomain != trustDomain)
        {
            var other = id;
            id = null;
            return $"certificate identity {other} is from trust domain '{other.TrustDomain}', not '{trustDomain}'";
        }
        return null;
    }

    /// <summary>A new key pair and a CSR asking for <paramref name="id"/>; the private key never leaves the caller.</summary>
    public static (ECDsa Key, string CsrPem) CreateRequest(SpiffeId id)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"O=Mesh, OU={id.Namespace}, CN={id.Service}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(id.ToUri());
        request.CertificateExtensions.Add(san.Build(critical: true));
        return (key, request.CreateSigningRequestPem());
    }

    /// <summary>
    /// Signs a workload certificate for the public key of <paramref name="csr"/> (whose signature was
    /// checked when it was loaded) with <paramref name="id"/> as its only name.
    /// </summary>
    public static X509Certificate2 Issue(CertificateRequest csr, SpiffeId id, X509Certificate2 issuer, DateTimeOffset now, TimeSpan lifetime, string? agentScope = null)
    {
        var request = new CertificateRequest(new X500DistinguishedName($"O=Mesh, OU={id.Namespace}, CN={id.Service}"), csr.PublicKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(id.ToUri());
        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth, ClientAuth], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        if (agentScope is not null)
        {
            var value = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
            value.WriteCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String, agentScope);
            request.CertificateExtensions.Add(new X509Extension(AgentScopeOid, value.Encode(), critical: false));
        }
        // A minute of slack for clocks a little behind the CA's.
        var (notBefore, notAfter) = Within(issuer, now.AddMinutes(-1), now + lifetime);
        return request.Create(issuer, notBefore, notAfter, Serial());
    }

    /// <summary>The namespace (or <see cref="AnyNamespace"/>) this certificate's agent may register in; null for its own service only.</summary>
    public static string? AgentScope(X509Certificate2? certificate)
    {
        if (certificate?.Extensions[AgentScopeOid] is not { } extension)
        {
            return null;
        }
        try
        {
            var reader = new System.Formats.Asn1.AsnReader(extension.RawData, System.Formats.Asn1.AsnEncodingRules.DER);
            return reader.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String);
        }
        catch (System.Formats.Asn1.AsnContentException)
        {
            return null;
        }
    }

    /// <summary>Whether a workload with <paramref name="id"/> and <paramref name="agentScope"/> may register an instance of service.namespace.</summary>
    public static bool MayRegister(SpiffeId id, string? agentScope, string service, string ns) =>
        (id.Namespace == ns && id.Service == service) || agentScope == AnyNamespace || agentScope == ns;

    /// <summary>The SPIFFE id a CSR asks for (its only URI SAN), or null.</summary>
    public static SpiffeId? RequestedId(CertificateRequest csr)
    {
        SpiffeId? found = null;
        foreach (var extension in csr.CertificateExtensions)
        {
            if (extension.Oid?.Value != "2.5.29.17")
            {
                continue;
            }
            foreach (var uri in SpiffeId.UriNames(extension))
            {
                if (found is not null || !SpiffeId.TryParse(uri, out found))
                {
                    return null;
                }
            }
        }
        return found;
    }

    /// <summary>A TLS server certificate for names and addresses, signed by <paramref name="issuer"/>.</summary>
    public static X509Certificate2 IssueServer(X509Certificate2 issuer, string commonName, IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses, DateTimeOffset now, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            san.AddDnsName(name);
        }
        foreach (var address in addresses)
        {
            san.AddIpAddress(address);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth], false));
        var (notBefore, notAfter) = Within(issuer, now.AddMinutes(-5), now + lifetime);
        using var issued = request.Create(issuer, notBefore, notAfter, Serial());
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>A validity window inside the issuer's own (a root made a moment ago, or near its end).</summary>
    private static (DateTimeOffset, DateTimeOffset) Within(X509Certificate2 issuer, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        var (from, to) = (new DateTimeOffset(issuer.NotBefore.ToUniversalTime()), new DateTimeOffset(issuer.NotAfter.ToUniversalTime()));
        return (notBefore < from ? from : notBefore, notAfter > to ? to : notAfter);
    }

    private static byte[] Serial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // positive
        return serial;
    }
}
