using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;

/// <summary>The benchmark's scoped half: a Sidecar resource per service, and what one watcher's snapshot weighs.</summary>
internal static partial class ScopingPhase
{
    /// <summary>How many other services each service calls (its Sidecar's egress hosts).</summary>
    public const int Calls = 5;

    /// <summary>svc-k's Sidecar (selected by app: svc-k, which the control plane gives every workload as its service) lets it call svc-(k+1) .. svc-(k+Calls).</summary>
    public static string SidecarsYaml(int services)
    {
        var yaml = new StringBuilder();
        for (var k = 0; k < services; k++)
        {
            var hosts = string.Join(", ", Enumerable.Range(1, Calls).Select(i => $"./svc-{(k + i) % services}.default.svc.cluster.local"));
            yaml.Append($"""
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {"{"}name: svc-{k}, namespace: default{"}"}
                spec:
                  workloadSelector: {"{"}labels: {"{"}app: svc-{k}{"}"}{"}"}
                  egress: [{"{"}hosts: [{hosts}]{"}"}]
                ---

                """);
        }
        return yaml.ToString();
    }

    /// <summary>The scope key of a full snapshot ("" when unscoped): the scope is its last field.</summary>
    public static string ScopeKey(byte[] body)
    {
        var tail = Encoding.UTF8.GetString(body, Math.Max(0, body.Length - 600), Math.Min(body.Length, 600));
        return ScopePattern().Match(tail) is { Success: true } m ? $"{m.Groups[1].Value}@{m.Groups[2].Value}" : "";
    }

    /// <summary>The full snapshot a new sidecar of <paramref name="service"/> gets, as JSON and gzip-compressed.</summary>
    public static async Task<(long Json, long Gzip)> SnapshotSizeAsync(X509Certificate2 certificate, int port, string service)
    {
        using var client = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true, LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate },
            AutomaticDecompression = System.Net.DecompressionMethods.None,
        }) { BaseAddress = new Uri($"https://127.0.0.1:{port}") };
        var query = $"/v1/snapshot?version=0&service={service}&namespace=default&wait=00:00:01";
        var json = await client.GetByteArrayAsync(query);
        if (Environment.GetEnvironmentVariable("BENCH_VERBOSE") is not null)
        {
            Console.WriteLine($"snapshot of {service}: {json.Length} bytes, scope '{ScopeKey(json)}'");
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, query);
        request.Headers.AcceptEncoding.ParseAdd("gzip");
        using var response = await client.SendAsync(request);
        var gzip = await response.Content.ReadAsByteArrayAsync();
        return (json.Length, gzip.Length);
    }

    [GeneratedRegex("\"scope\":\\{\"sidecar\":\"([^\"]+)\",\"namespace\":\"([^\"]+)\"")]
    private static partial Regex ScopePattern();
}
