using System.Diagnostics;
using System.Globalization;

namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>One region of a <see cref="RegionNetwork"/>: the address its control plane and sidecars are reached at from
/// other regions, and the network namespace its processes run in (null on the loopback fallback).</summary>
internal sealed record Region(string Name, string Address, string? Netns);

/// <summary>
/// Regions as Linux network namespaces made by the test: one namespace per region, each with a veth pair
/// whose other end is on a bridge the test makes, all on one /24 made up for this run, so regions reach each
/// other only through their veths (where <c>tc</c> can slow or cut them). <see cref="Dispose"/> removes every
/// namespace, link and bridge it made, also after a failure. Where namespaces cannot be made (not root, no
/// <c>ip</c>), <see cref="Isolated"/> is false, <see cref="Why"/> says why, and the regions are loopback
/// addresses of this host instead (127.0.0.2, 127.0.0.3, ...).
/// </summary>
internal sealed class RegionNetwork : IDisposable
{
    private readonly List<string[]> _undo = [];
    private readonly string _tag = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));

    private RegionNetwork()
    {
    }

    public IReadOnlyList<Region> Regions { get; private set; } = [];
    public bool Isolated { get; private set; }
    public string? Why { get; private set; }

    /// <summary>The host-side veth of each region (by region name), where <see cref="Partition"/> acts.</summary>
    private readonly Dictionary<string, string> _hostLinks = new(StringComparer.Ordinal);

    public static RegionNetwork Create(params string[] names)
    {
        var network = new RegionNetwork();
        try
        {
            network.MakeNamespaces(names);
            network.Isolated = true;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            network.Dispose();
            network._undo.Clear();
            network.Why = e.Message;
            network.Regions = names.Select((n, i) => new Region(n, $"127.0.0.{i + 2}", null)).ToArray();
        }
        return network;
    }

    private void MakeNamespaces(string[] names)
    {
        // A /24 of 10.0.0.0/8 for this run, so parallel runs on one host do not share addresses.
        var subnet = $"10.{200 + Random.Shared.Next(50)}.{Random.Shared.Next(256)}";
        var bridge = $"mbr{_tag}";
        Run("ip", "link", "add", bridge, "type", "bridge");
        _undo.Add(["ip", "link", "del", bridge]);
        Run("ip", "link", "set", bridge, "up");
        var regions = new List<Region>();
        for (var i = 0; i < names.Length; i++)
        {
            var ns = $"mesh-{_tag}-{names[i]}";
            var host = $"mv{_tag}{i}";
            Run("ip", "netns", "add", ns);
            _undo.Insert(0, ["ip", "netns", "del", ns]);
            Run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
            Run("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns);
            _undo.Insert(0, ["ip", "link", "del", host]);
            Run("ip", "link", "set", host, "master", bridge);
            Run("ip", "link", "set", host, "up");
            var address = $"{subnet}.{i + 1}";
            Run("ip", "netns", "exec", ns, "ip", "addr", "add", $"{address}/24", "dev", "eth0");
            Run("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up");
            _hostLinks[names[i]] = host;
            regions.Add(new Region(names[i], address, ns));
        }
        Regions = regions;
    }

    /// <summary>Cuts a region off every other (its veth down: packets to and from it go nowhere), or heals it.</summary>
    public void Partition(Region region, bool cut)
    {
        if (!Isolated)
        {
            throw new InvalidOperationException($"no network namespaces here ({Why}); a partition needs them");
        }
        Run("ip", "link", "set", _hostLinks[region.Name], cut ? "down" : "up");
    }

    /// <summary>Runs a command and returns its output; throws with its output when it fails.</summary>
    public static string Run(params string[] command)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{command[0]} did not start");
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        if (!process.WaitForExit(10_000) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{string.Join(' ', command)}' failed ({(process.HasExited ? process.ExitCode.ToString(CultureInfo.InvariantCulture) : "timed out")}): {output.Trim()}");
        }
        return output;
    }

    public void Dispose()
    {
        foreach (var command in _undo)
        {
            try
            {
                Run(command);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Deleting a namespace takes its veth along; the link's own delete then finds nothing.
            }
        }
    }
}
