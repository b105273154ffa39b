using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Core.Security;

/// <summary>A workload identity: <c>spiffe://&lt;trust-domain&gt;/ns/&lt;namespace&gt;/sa/&lt;service&gt;</c>.</summary>
public sealed record SpiffeId(string TrustDomain, string Namespace, string Service)
{
    public const string Scheme = "spiffe://";

    public const string DefaultTrustDomain = "cluster.local";

    /// <summary>The form AuthorizationPolicy principals use: the id without the scheme.</summary>
    public string Principal => $"{TrustDomain}/ns/{Namespace}/sa/{Service}";

    public Uri ToUri() => new(ToString());

    public override string ToString() => Scheme + Principal;

    public static bool TryParse(string? text, [NotNullWhen(true)] out SpiffeId? id)
    {
        id = null;
        if (text is null || !text.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return false;
        }
        var parts = text[Scheme.Length..].Split('/');
        if (parts is not [var domain, "ns", var ns, "sa", var sa] || domain.Length == 0 || ns.Length == 0 || sa.Length == 0)
        {
            return false;
        }
        id = new SpiffeId(domain, ns, sa);
        return true;
    }

    /// <summary>The SPIFFE id in a certificate's URI SAN, if it has exactly one.</summary>
    public static SpiffeId? FromCertificate(X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return null;
        }
        SpiffeId? found = null;
        foreach (var extension in certificate.Extensions)
        {
            if (extension is not X509SubjectAlternativeNameExtension san)
            {
                continue;
            }
            foreach (var uri in UriNames(san))
            {
                if (TryParse(uri, out var id))
                {
                    if (found is not null)
                    {
                        return null; // two identities in one certificate: trust neither
                    }
                    found = id;
                }
            }
        }
        return found;
    }

    /// <summary>URI entries of a SAN extension (the BCL enumerates only DNS names and IP addresses).</summary>
    public static IEnumerable<string> UriNames(X509Extension san)
    {
        var reader = new System.Formats.Asn1.AsnReader(san.RawData, System.Formats.Asn1.AsnEncodingRules.DER);
        var names = reader.ReadSequence();
        var uriTag = new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 6);
        var result = new List<string>();
        while (names.HasData)
        {
            var tag = names.PeekTag();
            if (tag == uriTag)
            {
                result.Add(names.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.IA5String, uriTag));
            }
            else
            {
                names.ReadEncodedValue();
            }
        }
        return result;
    }
}
