using Mesh.Core.Config.Model;
using Mesh.Core.Resilience;
using Mesh.Core.Routing;
using Mesh.Sidecar.Resilience;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Sidecar.Tests.Resilience;

public sealed class RetryAdmissionTests
{
    private static ClusterResilience For(int? maxRetries, double budgetRatio = 0.2, int budgetMin = 10) => new(
        new ClusterDefinition("reviews.default", "reviews.default", null, [], SimpleLoadBalancer.RoundRobin)
        {
            Policy = maxRetries is null ? null : new TrafficPolicy { ConnectionPool = new ConnectionPoolSettings { Http = new HttpSettings { MaxRetries = maxRetries } } },
        },
        new FakeTimeProvider(), budgetRatio, budgetMin);

    [Fact]
    public void MaxRetries_CapsTheCallsRetryingAtOnce_AndASlotIsFreedWhenItsCallEnds()
    {
        var resilience = For(maxRetries: 2);
        bool first = false, second = false, third = false;

        Assert.True(resilience.AdmitRetry(AttemptFailure.Reset, ref first, out _));
        Assert.True(resilience.AdmitRetry(AttemptFailure.Reset, ref second, out _));
        Assert.False(resilience.AdmitRetry(AttemptFailure.Reset, ref third, out var refusedBy));
        Assert.Equal("max-retries", refusedBy);
        Assert.False(third);

        // A call already retrying keeps its slot for its next retry.
        Assert.True(resilience.AdmitRetry(AttemptFailure.Reset, ref first, out _));

        resilience.EndRetry();
        Assert.True(resilience.AdmitRetry(AttemptFailure.Reset, ref third, out _));
    }

    [Fact]
    public void RetriesOfAttemptsThatNeverReachedAnApp_DoNotDrawOnTheBudget()
    {
        // A budget of nothing: no ratio, no floor.
        var resilience = For(maxRetries: null, budgetRatio: 0, budgetMin: 0);
        for (var i = 0; i < 1000; i++)
        {
            resilience.Budget.RecordRequest();
            var slot = false;
            Assert.True(resilience.AdmitRetry(AttemptFailure.ConnectFailure, ref slot, out _));
            Assert.True(resilience.AdmitRetry(AttemptFailure.RefusedStream, ref slot, out _));
            resilience.EndRetry();
        }
        var another = false;
        Assert.False(resilience.AdmitRetry(AttemptFailure.Reset, ref another, out var refusedBy));
        Assert.Equal("budget", refusedBy);
        Assert.False(resilience.AdmitRetry(AttemptFailure.None, ref another, out _)); // a retried 5xx answer
    }
}
