using Mesh.Core.Config.Model;
using Mesh.Core.Resilience;
using Mesh.Core.Routing;
using Mesh.Sidecar.Configuration;
using Mesh.Sidecar.Resilience;
using Mesh.Sidecar.Telemetry;
using Microsoft.Extensions.Time.Testing;
using Yarp.ReverseProxy.Model;

namespace Mesh.Sidecar.Tests.Resilience;

/// <summary>The cluster's limits on retries as <see cref="RetryDecision"/> applies them: maxRetries slots and the budget.</summary>
public sealed class RetryAdmissionTests
{
    private static RoutedCluster For(int? maxRetries, double budgetRatio = 0.2, int budgetMin = 10)
    {
        var definition = new ClusterDefinition("reviews.default", "reviews.default", null, [], SimpleLoadBalancer.RoundRobin)
        {
            Policy = maxRetries is null ? null : new TrafficPolicy { ConnectionPool = new ConnectionPoolSettings { Http = new HttpSettings { MaxRetries = maxRetries } } },
        };
        return new RoutedCluster(definition, new ClusterState(definition.Id), new ClusterResilience(definition, new FakeTimeProvider(), budgetRatio, budgetMin));
    }

    private static RetryDecision Call(RoutedCluster cluster) => new(new OutboundCall { Cluster = cluster }, cluster, replayable: true);

    [Fact]
    public void MaxRetries_CapsTheCallsRetryingAtOnce_AndASlotIsFreedWhenItsCallEnds()
    {
        var cluster = For(maxRetries: 2);
        var (first, second, third) = (Call(cluster), Call(cluster), Call(cluster));

        Assert.True(first.Admit(AttemptFailure.Reset, out _));
        Assert.True(second.Admit(AttemptFailure.Reset, out _));
        Assert.False(third.Admit(AttemptFailure.Reset, out var refusedBy));
        Assert.Equal("max-retries", refusedBy);

        // A refused call holds no slot: its end frees none.
        third.Finish();
        Assert.False(Call(cluster).Admit(AttemptFailure.Reset, out _));

        // A call already retrying keeps its slot for its next retry.
        Assert.True(first.Admit(AttemptFailure.Reset, out _));

        first.Finish();
        Assert.True(third.Admit(AttemptFailure.Reset, out _));
    }

    [Fact]
    public void RetriesOfAttemptsThatNeverReachedAnApp_DoNotDrawOnTheBudget()
    {
        // A budget of nothing: no ratio, no floor.
        var cluster = For(maxRetries: null, budgetRatio: 0, budgetMin: 0);
        for (var i = 0; i < 1000; i++)
        {
            cluster.Resilience.Budget.RecordRequest();
            var call = Call(cluster);
            Assert.True(call.Admit(AttemptFailure.ConnectFailure, out _));
            Assert.True(call.Admit(AttemptFailure.RefusedStream, out _));
            call.Finish();
        }
        var another = Call(cluster);
        Assert.False(another.Admit(AttemptFailure.Reset, out var refusedBy));
        Assert.Equal("budget", refusedBy);
        Assert.False(another.Admit(AttemptFailure.None, out _)); // a retried 5xx answer
    }
}
