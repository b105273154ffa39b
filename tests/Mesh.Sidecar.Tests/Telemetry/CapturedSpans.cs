using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Mesh.Sidecar.Tests.Telemetry;

/// <summary>
/// A tracer provider that samples every span of the given sources and keeps the finished ones in memory.
/// Providers listen process-wide: a test that makes one belongs to <see cref="TracingCollection"/>.
/// </summary>
internal sealed class CapturedSpans : IDisposable
{
    private readonly TracerProvider _provider;

    public CapturedSpans(params string[] sources)
    {
        _provider = Sdk.CreateTracerProviderBuilder()
            .AddSource(sources)
            .SetSampler(new AlwaysOnSampler())
            .AddInMemoryExporter(Exported)
            .Build();
    }

    public List<Activity> Exported { get; } = [];

    /// <summary>The spans finished so far, flushed first.</summary>
    public List<Activity> Flushed()
    {
        _provider.ForceFlush();
        return Exported;
    }

    public void Dispose() => _provider.Dispose();
}
