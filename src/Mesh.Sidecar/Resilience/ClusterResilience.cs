using System.Text.Json;
using System.Threading.RateLimiting;
using Mesh.Core.Resilience;
using Mesh.Core.Routing;
using Mesh.Core.Snapshots;
using Mesh.Sidecar.Hosting;

namespace Mesh.Sidecar.Resilience;

/// <summary>
/// The failure-handling state of one destination cluster: its retry budget, outlier detector and
/// connection-pool limiter. It outlives snapshots (endpoint churn keeps ejections and budgets) and is
/// rebuilt only when the cluster's traffic policy changes.
/// </summary>
internal sealed class ClusterResilience
{
    private int _activeRetries;

    public ClusterResilience(ClusterDefinition cluster, TimeProvider time, double budgetRatio, int budgetMinPerSecond)
    {
        var policy = cluster.Policy;
        Budget = new RetryBudget(time, budgetRatio, budgetMinPerSecond);
        Local = new LocalOriginDetector(time);
        Outliers = policy?.OutlierDetection is { } outlier ? new OutlierDetector(outlier, time) : null;
        var pool = policy?.ConnectionPool;
        var maxConnections = pool?.Tcp?.MaxConnections;
        var maxRequests = pool?.Http?.Http2MaxRequests;
        if (maxConnections is not null || maxRequests is not null)
        {
            var permits = Math.Min(maxConnections ?? int.MaxValue, maxRequests ?? int.MaxValue);
            // Requests wait for a connection (up to http1MaxPendingRequests) as in Envoy's HTTP/1 pool;
            // a request limit alone does not queue.
            var queue = maxConnections is null ? 0 : pool?.Http?.Http1MaxPendingRequests ?? int.MaxValue;
            Limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = permits, QueueLimit = queue, QueueProcessingOrder = QueueProcessingOrder.OldestFirst });
            OverflowLimit = maxConnections is null ? "max-requests" : pool?.Http?.Http1MaxPendingRequests is null ? "max-connections" : "max-pending-requests";
        }
        MaxRetries = pool?.Http?.MaxRetries ?? int.MaxValue;
        // Only "one request per connection" can be enforced on .NET's connection pool: Connection: close.
        CloseEachConnection = pool?.Http?.MaxRequestsPerConnection == 1;
    }

    /// <summary><c>maxRequestsPerConnection: 1</c>: every upstream request closes its connection (no keep-alive).</summary>
    public bool CloseEachConnection { get; }

    public RetryBudget Budget { get; }

    /// <summary>Unreachable endpoints out of the set at once, whatever the traffic policy says (see <see cref="LocalOriginDetector"/>).</summary>
    public LocalOriginDetector Local { get; }
    public OutlierDetector? Outliers { get; }
    public ConcurrencyLimiter? Limiter { get; }

    /// <summary>The connectionPool setting that refuses a call when <see cref="Limiter"/> has no room.</summary>
    public string OverflowLimit { get; } = "";

    /// <summary><c>connectionPool.http.maxRetries</c>: retries outstanding at once to this cluster.</summary>
    public int MaxRetries { get; }

    /// <summary>Takes one of <see cref="MaxRetries"/> slots for a call that starts retrying; false when all are taken.</summary>
    public bool TryStartRetry()
    {
        if (Interlocked.Increment(ref _activeRetries) <= MaxRetries)
        {
            return true;
        }
        Interlocked.Decrement(ref _activeRetries);
        return false;
    }

    /// <summary>Gives back a slot taken by <see cref="TryStartRetry"/>.</summary>
    public void EndRetry() => Interlocked.Decrement(ref _activeRetries);
}

/// <summary>
/// Keeps each cluster's <see cref="ClusterResilience"/> across snapshots: the snapshot applier asks for
/// every cluster once per snapshot and binds the answer into the cluster's <c>RoutedCluster</c>, so no
/// call looks it up. The same state comes back while the cluster's traffic policy is unchanged (endpoint
/// churn keeps ejections and budgets); a changed policy gets a new one.
/// </summary>
internal sealed class ResilienceRegistry(TimeProvider time, Hosting.SidecarOptions options)
{
    private readonly Dictionary<string, (string PolicyKey, ClusterResilience State)> _byId = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ClusterResilience For(ClusterDefinition cluster)
    {
        var key = JsonSerializer.Serialize(cluster.Policy, SidecarJson.Options.Info<Mesh.Core.Config.Model.TrafficPolicy?>());
        lock (_gate)
        {
            if (!_byId.TryGetValue(cluster.Id, out var entry) || entry.PolicyKey != key)
            {
                _byId[cluster.Id] = entry = (key, new ClusterResilience(cluster, time, options.RetryBudgetRatio, options.RetryBudgetMinPerSecond));
            }
            return entry.State;
        }
    }

    /// <summary>The state of a cluster by id, if any call has used it (for the admin page).</summary>
    public ClusterResilience? Find(string clusterId)
    {
        lock (_gate)
        {
            return _byId.TryGetValue(clusterId, out var entry) ? entry.State : null;
        }
    }
}
