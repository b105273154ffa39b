using Mesh.ControlPlane.Hosting;
using Mesh.ControlPlane.Limits;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.ControlPlane.Tests.Limits;

public sealed class LimitRefusalsTests
{
    [Fact]
    public void Refusals_AreLoggedOncePerLimitPerInterval_WithTheCountOfTheUnloggedOnes()
    {
        var time = new FakeTimeProvider();
        var logger = new ListLogger();
        using var limits = new ControlPlaneRateLimits(new ControlPlaneOptions { ConfigDir = "/tmp", DataDir = "/tmp" });
        var refusals = new LimitRefusals(limits, time, logger);

        for (var i = 0; i < 5; i++)
        {
            refusals.TooLarge(Context(), 100_000, 65_536);
        }
        Assert.Single(logger.Lines);
        Assert.Contains("over the 64 KiB limit of POST /v1/register", logger.Lines[0], StringComparison.Ordinal);

        time.Advance(LimitRefusals.LogInterval - TimeSpan.FromMilliseconds(1));
        refusals.TooLarge(Context(), 100_000, 65_536);
        Assert.Single(logger.Lines);

        time.Advance(TimeSpan.FromMilliseconds(1));
        refusals.TooLarge(Context(), 100_000, 65_536);
        Assert.Equal(2, logger.Lines.Count);
        Assert.Contains("Unlogged refusals by this limit since its previous line: 5", logger.Lines[1], StringComparison.Ordinal);
    }

    private static DefaultHttpContext Context()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Path = "/v1/register";
        return context;
    }

    private sealed class ListLogger : ILogger<LimitRefusals>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
