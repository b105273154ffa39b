using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Mesh.Discovery;

/// <summary>
/// One watch per service an app calls, shared by every client: a blocking query on the agent's
/// <c>/v1/health/service/:name?passing</c> that returns when the registry changes (not a polling storm),
/// re-asked at least every <see cref="MeshDiscoveryOptions.CacheTtl"/>. While the agent cannot be
/// reached, the last good answer is kept and the watch retries with backoff.
/// </summary>
public sealed partial class MeshServiceCatalog : IAsyncDisposable
{
    private readonly ConcurrentDictionary<(string Service, string Namespace), ServiceWatch> _watches = new();
    private readonly HttpClient _http;
    private readonly MeshDiscoveryOptions _options;
    private readonly ILogger<MeshServiceCatalog> _logger;
    private readonly CancellationTokenSource _stop = new();

    public MeshServiceCatalog(IOptions<MeshDiscoveryOptions> options, ILogger<MeshServiceCatalog> logger)
    {
        _options = options.Value;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1), UseProxy = false })
        {
            BaseAddress = _options.Agent,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>The watch of <paramref name="service"/> in <paramref name="ns"/>, started on first use.</summary>
    public ServiceWatch Watch(string service, string ns) =>
        _watches.GetOrAdd((service, ns), key => new ServiceWatch(this, key.Service, key.Namespace));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var watch in _watches.Values)
        {
            await watch.Stopped.ConfigureAwait(false);
        }
        _http.Dispose();
        _stop.Dispose();
    }

    /// <summary>A service's current healthy instances and a change token that fires when they change.</summary>
    public sealed class ServiceWatch
    {
        private readonly MeshServiceCatalog _catalog;
        private readonly string _service;
        private readonly string _namespace;
        private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile Answer? _answer;
        private CancellationTokenSource _changed = new();

        internal ServiceWatch(MeshServiceCatalog catalog, string service, string ns)
        {
            _catalog = catalog;
            _service = service;
            _namespace = ns;
            Stopped = Task.Run(RunAsync);
        }

        internal Task Stopped { get; }

        /// <summary>The last good answer (null before the first), when it came, and the last error since, if any.</summary>
        public (IReadOnlyList<MeshInstance>? Instances, DateTimeOffset? At, string? Error) Current =>
            _answer is { } a ? (a.Instances, a.At, a.Error) : (null, null, null);

        public IChangeToken ChangeToken => new CancellationChangeToken(Volatile.Read(ref _changed).Token);

        /// <summary>The current answer; before the first one, waits for it up to <paramref name="timeout"/>.</summary>
        public async Task<IReadOnlyList<MeshInstance>> InstancesAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (_answer is { } answer)
            {
                return answer.Instances;
            }
            try
            {
                await _first.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new InvalidOperationException($"no answer from the mesh agent at {_catalog._options.Agent} for service '{_service}' in namespace '{_namespace}' within {timeout}: {_lastError ?? "no reply yet"}");
            }
            return _answer!.Instances;
        }

        private string? _lastError;

        private async Task RunAsync()
        {
            var index = 0UL;
            var delay = TimeSpan.FromMilliseconds(250);
            var stop = _catalog._stop.Token;
            var wait = (long)Math.Max(1, _catalog._options.CacheTtl.TotalSeconds);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var path = $"/v1/health/service/{Uri.EscapeDataString(_service)}?passing=1&ns={Uri.EscapeDataString(_namespace)}"
                        + (index > 0 ? $"&index={index}&wait={wait}s" : "");
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
                    timeout.CancelAfter(TimeSpan.FromSeconds(wait + 5));
                    using var response = await _catalog._http.GetAsync(path, timeout.Token).ConfigureAwait(false);
                    var body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
                    if (!response.IsSuccessStatusCode)
                    {
                        throw new HttpRequestException($"{(int)response.StatusCode} {response.ReasonPhrase}: {System.Text.Encoding.UTF8.GetString(body).Trim()}");
                    }
                    var instances = MeshInstance.ParseHealth(body);
                    var next = response.Headers.TryGetValues("X-Consul-Index", out var values)
                        && ulong.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
                    // Consul's rule for clients: an index that went backwards (a registry that lost its history) starts over.
                    index = next < index ? 0 : next;
                    Publish(instances);
                    delay = TimeSpan.FromMilliseconds(250);
                }
                catch (Exception e) when (e is HttpRequestException or FormatException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException
                    || (e is OperationCanceledException && !stop.IsCancellationRequested))
                {
                    // The last good answer stays in use; the registry is asked again after a backoff.
                    _lastError = e is OperationCanceledException ? "timed out" : e.Message;
                    if (_answer is { } answer)
                    {
                        _answer = answer with { Error = _lastError };
                    }
                    Log.AgentUnreachable(_catalog._logger, _catalog._options.Agent, _service, _namespace, _lastError, delay);
                    index = 0;
                    try
                    {
                        await Task.Delay(delay, stop).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        private void Publish(IReadOnlyList<MeshInstance> instances)
        {
            var previous = _answer;
            _answer = new Answer(instances, DateTimeOffset.UtcNow, null);
            _lastError = null;
            _first.TrySetResult();
            if (previous is null || !Same(previous.Instances, instances))
            {
                Log.InstancesChanged(_catalog._logger, _service, _namespace, instances.Count);
                Interlocked.Exchange(ref _changed, new CancellationTokenSource()).Cancel();
            }
        }

        private static bool Same(IReadOnlyList<MeshInstance> a, IReadOnlyList<MeshInstance> b) =>
            a.Count == b.Count && a.Zip(b).All(p => p.First.Id == p.Second.Id && p.First.Address == p.Second.Address && p.First.Port == p.Second.Port
                && p.First.Zone == p.Second.Zone && p.First.Labels.Count == p.Second.Labels.Count
                && p.First.Labels.All(l => p.Second.Labels.TryGetValue(l.Key, out var v) && v == l.Value));

        private sealed record Answer(IReadOnlyList<MeshInstance> Instances, DateTimeOffset At, string? Error);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Mesh agent {Agent} unreachable for {Service}.{Namespace} ({Reason}); keeping the last answer, asking again in {Delay}")]
        public static partial void AgentUnreachable(ILogger logger, Uri agent, string service, string @namespace, string reason, TimeSpan delay);

        [LoggerMessage(2, LogLevel.Information, "{Service}.{Namespace}: {Count} healthy instance(s)")]
        public static partial void InstancesChanged(ILogger logger, string service, string @namespace, int count);
    }
}
