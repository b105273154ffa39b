using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mesh.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.EndToEnd.Tests;

/// <summary>
/// The scrape config and queries that docs/observability.md gives, run by a real Prometheus (Debian's)
/// against the demo: every documented query is valid, and the golden signals return data.
/// </summary>
[Collection(DemoCollection.Name)]
public sealed partial class PrometheusTests(ITestOutputHelper output)
{
    private const string Prometheus = "/usr/bin/prometheus";

    // The demo's well-known admin ports (DemoTopology.WellKnown), in the order the demo lists its instances.
    private static readonly (string Instance, int Port)[] WellKnown =
        [("storefront-v1", 15000), ("catalog-v1", 15110), ("reviews-v1", 15120), ("reviews-v2", 15130), ("reviews-v3", 15140), ("ratings-v1", 15150), ("gateway", 15200)];

    [Fact]
    public async Task DocumentedScrapeConfigAndQueries_WorkAgainstTheDemo()
    {
        Assert.True(File.Exists(Prometheus), $"{Prometheus} is missing: .ci/run installs Debian's prometheus");
        var doc = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "docs", "observability.md"));
        var section = doc[doc.IndexOf("## Scraping with Prometheus", StringComparison.Ordinal)..];
        var config = Block(section, "yaml");
        var queries = Block(section, "promql").Split('\n').Chunk(2).Select(pair => (Name: pair[0].TrimStart('#', ' '), Query: pair[1])).ToArray();
        Assert.True(queries.Length >= 4, "the doc lists the golden-signal queries");

        var dataDir = Directory.CreateTempSubdirectory("mesh-prometheus-test-").FullName;
        await using var demo = MeshProcess.StartDll("demo", RepoPaths.DemoDll, ["--free-ports", "--data-dir", dataDir]);
        await Eventually.TrueAsync(() => Task.FromResult(demo.HasLogged("Ctrl-C stops everything")), TimeSpan.FromMinutes(3), () => "demo did not come up\n" + demo.Output);

        // The doc's file, with the well-known ports replaced by the ones this demo got.
        foreach (var (instance, port) in WellKnown)
        {
            var admin = AdminPort(demo.Output, instance);
            config = config.Replace($"127.0.0.1:{port}'", $"127.0.0.1:{admin}'", StringComparison.Ordinal);
        }
        var cpAdmin = ControlPlaneAdmin().Match(demo.Output).Groups[1].Value;
        config = config.Replace("127.0.0.1:15014'", $"127.0.0.1:{cpAdmin}'", StringComparison.Ordinal).Replace("scrape_interval: 5s", "scrape_interval: 1s", StringComparison.Ordinal);
        var configPath = Path.Combine(dataDir, "prometheus.yml");
        await File.WriteAllTextAsync(configPath, config);

        var promPort = FreePorts.Next();
        await using var prometheus = MeshProcess.Start("prometheus", Prometheus,
            [$"--config.file={configPath}", $"--storage.tsdb.path={Path.Combine(dataDir, "tsdb")}", $"--web.listen-address=127.0.0.1:{promPort}"]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var api = new Uri($"http://127.0.0.1:{promPort}/api/v1/");
        await Eventually.TrueAsync(async () => await Up(http, api) == WellKnown.Length + 1, TimeSpan.FromSeconds(60), () => "every target up in Prometheus\n" + prometheus.Output);

        // Traffic through the shop's gateway for long enough to give rate() two scrapes and more.
        var entry = GatewayEntry().Match(demo.Output).Groups[1].Value;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(8))
        {
            using var response = await http.GetAsync(entry);
            await Task.Delay(50);
        }

        var golden = new[] { "request rate", "success rate", "p50 latency", "p99 latency" };
        foreach (var (name, query) in queries)
        {
            var result = await Eventually.ValueAsync(() => QueryAsync(http, api, query), r => !golden.Any(name.StartsWith) || r.GetArrayLength() > 0,
                TimeSpan.FromSeconds(20), () => $"'{name}' returned no data: {query}");
            output.WriteLine($"{name}: {result}");
        }
    }

    private static string Block(string markdown, string language)
    {
        var start = markdown.IndexOf("```" + language + "\n", StringComparison.Ordinal) + language.Length + 4;
        return markdown[start..markdown.IndexOf("```", start, StringComparison.Ordinal)].Trim();
    }

    private static int AdminPort(string demoOutput, string instance) =>
        int.Parse(Regex.Match(demoOutput, $@"\s{Regex.Escape(instance)}\s+(app|http)[^\n]* admin :(\d+)").Groups[2].Value);

    private static async Task<int> Up(HttpClient http, Uri api)
    {
        try
        {
            var result = await QueryAsync(http, api, "up == 1");
            return result.GetArrayLength();
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }

    private static async Task<JsonElement> QueryAsync(HttpClient http, Uri api, string query)
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri(api, "query?query=" + Uri.EscapeDataString(query))));
        Assert.Equal("success", doc.RootElement.GetProperty("status").GetString());
        return doc.RootElement.GetProperty("data").GetProperty("result").Clone();
    }

    [GeneratedRegex(@"control plane\s+https://127\.0\.0\.1:\d+ \(admin http://127\.0\.0\.1:(\d+)/?\)")]
    private static partial Regex ControlPlaneAdmin();

    [GeneratedRegex(@"gateway\s+(http://127\.0\.0\.1:\d+/)")]
    private static partial Regex GatewayEntry();
}
