using System.Text.Json;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Several regions, each a <see cref="MeshCluster"/> with its own control plane (its own trust domain
/// <c>&lt;region&gt;.example</c> and CA) in its own network namespace of a <see cref="RegionNetwork"/>, and the
/// meshctl calls that peer them. On dispose every process is killed and the namespaces are removed.
/// </summary>
internal sealed class PeeredRegions : IAsyncDisposable
{
    private readonly Dictionary<string, MeshCluster> _clusters = new(StringComparer.Ordinal);

    public PeeredRegions(Xunit.Abstractions.ITestOutputHelper output, params string[] names)
    {
        Network = RegionNetwork.Create(names);
        output.WriteLine(Network.Isolated
            ? $"regions in network namespaces of their own: {string.Join(", ", Network.Regions.Select(r => $"{r.Name} {r.Address} ({r.Netns})"))}"
            : $"SKIPPED network namespaces: they cannot be made here ({Network.Why}); the regions run on loopback addresses instead ({string.Join(", ", Network.Regions.Select(r => $"{r.Name} {r.Address}"))})");
        foreach (var region in Network.Regions)
        {
            var cluster = new MeshCluster(region);
            cluster.ControlPlaneArgs.AddRange(["--trust-domain", TrustDomain(region.Name), "--peer-sync-interval", "250ms"]);
            _clusters[region.Name] = cluster;
        }
    }

    public RegionNetwork Network { get; }

    public MeshCluster this[string region] => _clusters[region];

    public Region RegionOf(string name) => Network.Regions.Single(r => r.Name == name);

    public static string TrustDomain(string region) => $"{region}.example";

    public string Logs => string.Join("\n\n", _clusters.Select(c => $"######## region {c.Key} ########\n{c.Value.Logs}"));

    public async Task StartControlPlanesAsync()
    {
        await Task.WhenAll(_clusters.Values.Select(c => c.StartControlPlaneAsync())).ConfigureAwait(false);
    }

    /// <summary>meshctl against <paramref name="region"/>'s control plane, run inside that region.</summary>
    public async Task<(int Code, string Output)> MeshctlAsync(string region, params string[] args)
    {
        var cluster = _clusters[region];
        await using var meshctl = MeshProcess.StartDll($"meshctl {string.Join(' ', args.Take(2))} ({region})", RepoPaths.MeshctlDll,
            ["--admin", cluster.ControlPlane!.Admin.ToString(), "--token-file", Path.Combine(cluster.ControlPlane.DataDir, "admin-token"), .. args],
            netns: cluster.Region!.Netns);
        var code = await meshctl.WaitForExitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        return (code, meshctl.Output);
    }

    /// <summary>
    /// Peers two regions as an operator does: <c>generate-token</c> on <paramref name="acceptor"/> for a peer named
    /// <paramref name="dialer"/>, <c>establish</c> with it on <paramref name="dialer"/> for a peer named <paramref name="acceptor"/>.
    /// </summary>
    public async Task PeerAsync(string acceptor, string dialer)
    {
        var (code, output) = await MeshctlAsync(acceptor, "peering", "generate-token", "--peer", dialer).ConfigureAwait(false);
        Assert.True(code == 0, $"generate-token on {acceptor}: {output}");
        var token = output.Split('\n').Single(l => l.StartsWith("mesh-peering.", StringComparison.Ordinal));
        (code, output) = await MeshctlAsync(dialer, "peering", "establish", "--peer", acceptor, "--token", token).ConfigureAwait(false);
        Assert.True(code == 0, $"establish on {dialer}: {output}");
        Assert.Contains($"peering '{acceptor}' established: trust domain {TrustDomain(acceptor)}", output, StringComparison.Ordinal);
    }

    /// <summary>The region's peerings as its admin API lists them.</summary>
    public async Task<JsonElement[]> PeeringsAsync(string region)
    {
        var cluster = _clusters[region];
        using var doc = JsonDocument.Parse(await cluster.Http.GetStringAsync(new Uri(cluster.ControlPlane!.Admin, "/v1/peerings")).ConfigureAwait(false));
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    /// <summary>Runs a scenario; if it fails, the failure carries every region's process output.</summary>
    public async Task RunAsync(Func<Task> scenario)
    {
        try
        {
            await scenario().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.GetType().Name}: {e.Message}\n{e.StackTrace}\n\nProcess output:\n{Logs}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var cluster in _clusters.Values)
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
        }
        Network.Dispose();
    }
}
