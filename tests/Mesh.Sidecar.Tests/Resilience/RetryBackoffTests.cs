using Mesh.Core.Resilience;
using Mesh.Sidecar.Resilience;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Sidecar.Tests.Resilience;

public sealed class RetryBackoffTests
{
    [Fact]
    public async Task Pipeline_RetriesTheConfiguredTimes_WithJitteredExponentialBackoffUpTo250ms()
    {
        var time = new FakeTimeProvider();
        var pipeline = RetryPipelines.Build(new RetryPolicy(5, null, "5xx"), time);
        var attemptsAt = new List<DateTimeOffset>();

        var run = pipeline.ExecuteAsync(_ =>
        {
            attemptsAt.Add(time.GetUtcNow());
            return ValueTask.FromResult(AttemptResult.Again);
        }).AsTask();
        while (!run.IsCompleted)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            await Task.Delay(1);
        }
        var result = await run;

        Assert.True(result.Retry, "the last attempt's result is returned when attempts run out");
        Assert.Equal(6, attemptsAt.Count); // the first attempt and 5 retries
        var delays = attemptsAt.Zip(attemptsAt.Skip(1), (a, b) => b - a).ToArray();
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.Zero, TimeSpan.FromMilliseconds(251)));
        Assert.True(delays.Distinct().Count() > 1, $"jittered, not fixed: {string.Join(", ", delays.Select(d => d.TotalMilliseconds))}");
    }

    [Fact]
    public async Task Pipeline_StopsAtTheFirstAttemptNotToRetry()
    {
        var pipeline = RetryPipelines.Build(new RetryPolicy(3, null, "5xx"));
        var attempts = 0;

        var result = await pipeline.ExecuteAsync(_ => ValueTask.FromResult(++attempts < 2 ? AttemptResult.Again : AttemptResult.Done));

        Assert.False(result.Retry);
        Assert.Equal(2, attempts);
    }
}
