using Mesh.Core.Hosting;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Tests.Hosting;

public sealed class BenchmarkSwitchesTests
{
    [Fact]
    public void Unset_LeavesEveryFeatureOn()
    {
        foreach (var value in new[] { null, "", " , " })
        {
            var switches = BenchmarkSwitches.Parse(value);
            Assert.Equal(BenchmarkSwitches.None, switches);
            Assert.False(switches.AnyOff);
            Assert.True(switches is { Resilience: true, Locality: true, Spiffe: true, Metrics: true, Tracing: true, Telemetry: true, Inbound: true });
        }
    }

    [Fact]
    public void EachName_TurnsOffThatFeatureAlone()
    {
        foreach (var name in BenchmarkSwitches.Names.Keys)
        {
            var switches = BenchmarkSwitches.Parse(name);
            Assert.True(switches.AnyOff);
            // ToString names exactly what is off, so the start-up warning says it.
            Assert.Equal(name, switches.ToString());
        }
        Assert.Equal("resilience,tracing", BenchmarkSwitches.Parse(" tracing, resilience ").ToString());
    }

    [Fact]
    public void AnUnknownName_IsAnErrorThatListsTheKnownOnes()
    {
        var e = Assert.Throws<UsageException>(() => BenchmarkSwitches.Parse("resilience,retries"));
        Assert.Contains("MESH_BENCH_OFF: unknown switch 'retries'", e.Message, StringComparison.Ordinal);
        Assert.Contains("resilience, locality, spiffe", e.Message, StringComparison.Ordinal);
    }
}
