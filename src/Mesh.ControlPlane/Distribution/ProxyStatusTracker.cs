using System.Collections.Concurrent;
using Mesh.ControlPlane.Hosting;

namespace Mesh.ControlPlane.Distribution;

/// <summary>One sidecar as the control plane sees it through its watch calls.</summary>
internal sealed record ProxyStatus(
    string Node,
    string Service,
    string Namespace,
    long AppliedVersion,
    long CurrentVersion,
    string Status,
    string? Error,
    DateTimeOffset LastSeen,
    bool Connected,
    string Replica);

/// <summary>Remembers, per sidecar, the version it last applied (its acknowledgement) or rejected.</summary>
internal sealed class ProxyStatusTracker(TimeProvider time, ControlPlaneOptions options)
{
    private readonly ConcurrentDictionary<string, Entry> _nodes = new(StringComparer.Ordinal);

    /// <summary>This replica, as proxy-status names it: host and sidecar API port.</summary>
    public string Replica { get; } = $"{Environment.MachineName}:{options.Port}";

    /// <summary>Raised after a watch call starts or ends (outside any lock).</summary>
    public event Action? Changed;

    /// <summary>Records a watch call; true when it acknowledges a version this sidecar had not applied before.</summary>
    public bool Seen(string node, string service, string ns, long applied, string? error)
    {
        var entry = _nodes.GetOrAdd(node, _ => new Entry());
        bool newlyApplied;
        lock (entry)
        {
            newlyApplied = applied != entry.Applied && error is null;
            entry.Service = service;
            entry.Namespace = ns;
            entry.Applied = applied;
            entry.Error = error;
            entry.LastSeen = time.GetUtcNow();
            entry.Watching++;
            entry.Started++;
        }
        Changed?.Invoke();
        return newlyApplied;
    }

    /// <summary>How many watch calls this sidecar has made; a watch that ended abnormally compares it after a grace to see whether the sidecar came back.</summary>
    public long Watches(string node) =>
        _nodes.TryGetValue(node, out var entry) ? Volatile.Read(ref entry.Started) : 0;

    public void WatchEnded(string node)
    {
        if (_nodes.TryGetValue(node, out var entry))
        {
            lock (entry)
            {
                entry.Watching--;
                entry.LastSeen = time.GetUtcNow();
            }
            Changed?.Invoke();
        }
    }

    public IReadOnlyList<ProxyStatus> List(long currentVersion)
    {
        var now = time.GetUtcNow();
        return _nodes
            .Select(kv =>
            {
                var e = kv.Value;
                lock (e)
                {
                    // A sidecar between two watch calls is still connected; one silent for long is not.
                    var connected = e.Watching > 0 || now - e.LastSeen < TimeSpan.FromSeconds(10);
                    var status = !connected ? "DISCONNECTED"
                        : e.Error is not null ? "REJECTED"
                        : e.Applied == currentVersion ? "SYNCED"
                        : "STALE";
                    return new ProxyStatus(kv.Key, e.Service, e.Namespace, e.Applied, currentVersion, status, e.Error, e.LastSeen, connected, Replica);
                }
            })
            .OrderBy(s => s.Node, StringComparer.Ordinal)
            .ToArray();
    }

    private sealed class Entry
    {
        public long Started;
        public string Service = "";
        public string Namespace = "";
        public long Applied;
        public string? Error;
        public DateTimeOffset LastSeen;
        public int Watching;
    }
}
