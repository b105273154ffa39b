using System.Diagnostics;

namespace Mesh.Observability;

/// <summary>
/// Trace context from W3C <c>traceparent</c> (preferred) or, when a caller sends only B3 (Zipkin,
/// older Istio/Envoy set-ups), from <c>b3</c> single-header or <c>x-b3-*</c> multi-header form.
/// Outgoing calls always carry W3C headers. The OpenTelemetry B3 propagator package is not served by
/// the package registry here, so this small extractor stands in for it.
/// </summary>
public sealed class B3Propagator(DistributedContextPropagator w3c) : DistributedContextPropagator
{
    public override IReadOnlyCollection<string> Fields { get; } =
        [.. w3c.Fields, "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags", "x-b3-parentspanid"];

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter) => w3c.Inject(activity, carrier, setter);

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => w3c.ExtractBaggage(carrier, getter);

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState)
    {
        w3c.ExtractTraceIdAndState(carrier, getter, out traceId, out traceState);
        if (traceId is null && getter is not null)
        {
            traceId = FromB3(carrier, getter);
        }
    }

    /// <summary>The B3 context as a W3C traceparent, or null when there is none or it is malformed.</summary>
    public static string? FromB3(object? carrier, PropagatorGetterCallback getter)
    {
        string? traceId, spanId, sampled;
        getter(carrier, "b3", out var single, out _);
        if (!string.IsNullOrEmpty(single))
        {
            // {trace}-{span}[-{sampled}[-{parent}]]; "0" alone means "do not sample" with no context.
            var parts = single.Split('-');
            if (parts.Length < 2)
            {
                return null;
            }
            (traceId, spanId, sampled) = (parts[0], parts[1], parts.Length > 2 ? parts[2] : null);
        }
        else
        {
            getter(carrier, "x-b3-traceid", out traceId, out _);
            getter(carrier, "x-b3-spanid", out spanId, out _);
            getter(carrier, "x-b3-sampled", out sampled, out _);
            getter(carrier, "x-b3-flags", out var flags, out _);
            if (flags == "1")
            {
                sampled = "1"; // debug implies sampled
            }
        }
        if (traceId is null || spanId is null || (traceId.Length != 16 && traceId.Length != 32) || spanId.Length != 16 || !IsHex(traceId) || !IsHex(spanId))
        {
            return null;
        }
        // No decision in B3 ("defer") is taken as sampled: the caller asked for tracing by sending the headers.
        var recorded = sampled is "0" or "false" ? "00" : "01";
        return $"00-{traceId.PadLeft(32, '0').ToLowerInvariant()}-{spanId.ToLowerInvariant()}-{recorded}";
    }

    private static bool IsHex(string text) => text.All(char.IsAsciiHexDigit) && text.Any(c => c != '0');
}
