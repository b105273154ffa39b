using System.Net.Http.Headers;

namespace Shop.Common;

/// <summary>
/// The headers an app forwards from the call it is serving to the calls it makes, so the mesh can
/// join the hops into one trace (W3C trace context and B3) and route on the end user.
/// </summary>
public static class TraceHeaders
{
    public static readonly string[] Names =
    [
        "traceparent", "tracestate", "baggage",
        "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags",
        "x-request-id", "end-user",
    ];

    public static void Forward(IHeaderDictionary from, HttpRequestHeaders to)
    {
        foreach (var name in Names)
        {
            if (from.TryGetValue(name, out var values))
            {
                to.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }
    }
}
