using Mesh.Observability;
using System.Diagnostics;
using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Sidecar.Telemetry;

/// <summary>Names the inbound server span and counts the call once the app's response is done.</summary>
internal static class InboundTelemetry
{
    public static void Record(HttpContext context, string service, long started)
    {
        var source = Source(context.Connection.ClientCertificate);
        var status = OutboundTelemetryStep.StatusText(context.Response.StatusCode);
        // Unsampled spans (most, at 1%) record nothing: skip the tag work for them.
        if (Activity.Current is { IsAllDataRequested: true } span)
        {
            TraceContext.SetServerSpanName(span, $"inbound {service}");
            span.SetTag("mesh.direction", "inbound");
            span.SetTag("mesh.source", source);
            span.SetTag("network.peer.address", context.Connection.RemoteIpAddress?.ToString());
        }
        var tags = new TagList
        {
            { "direction", "inbound" },
            { "source", source },
            { "destination", service },
            { "subset", "" },
            { "route", "" },
            { "status", status },
            { "mesh_error", "" },
        };
        SidecarTelemetry.Requests.Add(1, tags);
        SidecarTelemetry.Duration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, tags);
    }

    /// <summary>
    /// The calling workload as <c>service.namespace</c>, from the SPIFFE id
    /// (<c>spiffe://domain/ns/NS/sa/SERVICE</c>) of its client certificate; <c>unknown</c> without one.
    /// </summary>
    internal static string Source(X509Certificate2? certificate)
    {
        foreach (var uri in Uris(certificate))
        {
            if (uri.StartsWith("spiffe://", StringComparison.Ordinal) && uri["spiffe://".Length..].Split('/') is [_, "ns", var ns, "sa", var sa])
            {
                return $"{sa}.{ns}";
            }
        }
        return "unknown";
    }

    /// <summary>URI entries ([6] IA5String) of the subject alternative name extension.</summary>
    private static IEnumerable<string> Uris(X509Certificate2? certificate)
    {
        if (certificate?.Extensions["2.5.29.17"] is not { } san)
        {
            yield break;
        }
        var names = new AsnReader(san.RawData, AsnEncodingRules.DER).ReadSequence();
        var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
        while (names.HasData)
        {
            if (names.PeekTag() == uriTag)
            {
                yield return names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag);
            }
            else
            {
                names.ReadEncodedValue();
            }
        }
    }
}
