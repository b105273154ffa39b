using System.Runtime.CompilerServices;
using Mesh.Core.Resilience;
using Polly;
using Polly.Retry;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// Polly's retry pipeline for each route's retry policy: how many times and how long between attempts
/// (jittered exponential backoff 25-250 ms, as Envoy's). Whether an attempt is retried at all is
/// <see cref="RetryDecision"/>'s answer, which Polly only carries (<see cref="AttemptResult.Retry"/>).
/// </summary>
internal static class RetryPipelines
{
    // Keyed by the compiled policy, which lives as long as its rule: built once per rule, not per call.
    private static readonly ConditionalWeakTable<RetryPolicy, ResiliencePipeline<AttemptResult>> Pipelines = [];

    public static ResiliencePipeline<AttemptResult> For(RetryPolicy policy) => Pipelines.GetValue(policy, static p => Build(p));

    /// <summary>The retry pipeline of a policy; <paramref name="time"/> is for tests.</summary>
    internal static ResiliencePipeline<AttemptResult> Build(RetryPolicy policy, TimeProvider? time = null) =>
        new ResiliencePipelineBuilder<AttemptResult> { TimeProvider = time ?? TimeProvider.System }
            .AddRetry(new RetryStrategyOptions<AttemptResult>
            {
                MaxRetryAttempts = policy.Attempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(25),
                MaxDelay = TimeSpan.FromMilliseconds(250),
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Result is { Retry: true }),
            })
            .Build();
}
