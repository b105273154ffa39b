using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

internal static class DestinationRuleValidator
{
    public static void Validate(ResourceProblems<DestinationRule> p, ConfigValidator.HostIndex hosts, Dictionary<string, Resource<DestinationRule>> ruleFor)
    {
        var dr = p.Resource;
        if (dr.Spec.Host.Length == 0)
        {
            p.Error("spec.host", "a DestinationRule needs a host");
        }
        else if (!HostName.IsValid(dr.Spec.Host))
        {
            p.Error("spec.host", $"'{dr.Spec.Host}' is not a valid host name");
        }
        else
        {
            var host = HostName.Canonical(dr.Spec.Host, dr.Metadata.Namespace);
            if (ruleFor.TryGetValue(host, out var first))
            {
                p.Warning("spec.host", $"host '{dr.Spec.Host}' already has DestinationRule '{first.Metadata.Name}' ({ConfigValidator.Where(first, "metadata.name")}); only that one applies");
            }
            else
            {
                ruleFor[host] = dr;
            }
            p.HostResolves("spec.host", dr.Spec.Host, host, hosts, "host");
        }
        // Whether the host is outside the mesh (a ServiceEntry host); null when it does not resolve (reported above).
        bool? external = dr.Spec.Host.Length > 0 && HostName.IsValid(dr.Spec.Host) && hosts.Resolves(HostName.Canonical(dr.Spec.Host, dr.Metadata.Namespace))
            ? hosts.IsServiceEntry(HostName.Canonical(dr.Spec.Host, dr.Metadata.Namespace))
            : null;
        ValidatePolicy(p, dr.Spec.TrafficPolicy, "spec.trafficPolicy", external);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < dr.Spec.Subsets.Count; i++)
        {
            var subset = dr.Spec.Subsets[i];
            if (subset.Name.Length == 0)
            {
                p.Error($"spec.subsets[{i}]", "a subset needs a name");
            }
            else if (!names.Add(subset.Name))
            {
                p.Error($"spec.subsets[{i}].name", $"subset '{subset.Name}' is defined twice");
            }
            ValidatePolicy(p, subset.TrafficPolicy, $"spec.subsets[{i}].trafficPolicy", external);
        }
    }

    private static void ValidatePolicy(ResourceProblems<DestinationRule> p, TrafficPolicy? policy, string path, bool? external)
    {
        if (policy is null)
        {
            return;
        }
        ValidateLoadBalancer(p, policy.LoadBalancer, $"{path}.loadBalancer");
        if (policy.ConnectionPool is { } pool)
        {
            p.Range($"{path}.connectionPool.tcp.maxConnections", "maxConnections", pool.Tcp?.MaxConnections, 1, int.MaxValue);
            p.Positive($"{path}.connectionPool.tcp.connectTimeout", "connectTimeout", pool.Tcp?.ConnectTimeout);
            p.Range($"{path}.connectionPool.http.http1MaxPendingRequests", "http1MaxPendingRequests", pool.Http?.Http1MaxPendingRequests, 1, int.MaxValue);
            p.Range($"{path}.connectionPool.http.http2MaxRequests", "http2MaxRequests", pool.Http?.Http2MaxRequests, 1, int.MaxValue);
            p.Range($"{path}.connectionPool.http.maxRequestsPerConnection", "maxRequestsPerConnection", pool.Http?.MaxRequestsPerConnection, 0, int.MaxValue);
            if (pool.Http?.MaxRequestsPerConnection is > 1)
            {
                p.Warning($"{path}.connectionPool.http.maxRequestsPerConnection",
                    $"maxRequestsPerConnection {pool.Http.MaxRequestsPerConnection} is not enforced: Mesh enforces 1 (no keep-alive) or unlimited (0)");
            }
            p.Range($"{path}.connectionPool.http.maxRetries", "maxRetries", pool.Http?.MaxRetries, 0, int.MaxValue);
        }
        if (policy.OutlierDetection is { } outlier)
        {
            var o = $"{path}.outlierDetection";
            p.Range($"{o}.consecutive5xxErrors", "consecutive5xxErrors", outlier.Consecutive5xxErrors, 0, int.MaxValue);
            p.Range($"{o}.consecutiveGatewayErrors", "consecutiveGatewayErrors", outlier.ConsecutiveGatewayErrors, 0, int.MaxValue);
            p.Positive($"{o}.interval", "interval", outlier.Interval);
            p.Positive($"{o}.baseEjectionTime", "baseEjectionTime", outlier.BaseEjectionTime);
            p.Range($"{o}.maxEjectionPercent", "maxEjectionPercent", outlier.MaxEjectionPercent, 0, 100);
            p.Range($"{o}.minHealthPercent", "minHealthPercent", outlier.MinHealthPercent, 0, 100);
        }
        if (policy.Tls is { } tls)
        {
            ValidateTls(p, tls, $"{path}.tls", external);
        }
    }

    /// <summary>
    /// MUTUAL originates mutual TLS to a host outside the mesh with files on the sidecar's machine, as
    /// Istio's sidecars take them: both the certificate and its key, absolute paths. Between sidecars the
    /// mesh's own identities are used (ISTIO_MUTUAL), so MUTUAL to a mesh host is refused.
    /// </summary>
    private static void ValidateTls(ResourceProblems<DestinationRule> p, ClientTlsSettings tls, string path, bool? external)
    {
        if (tls.Mode == TlsMode.Mutual)
        {
            var missing = new[] { ("clientCertificate", tls.ClientCertificate), ("privateKey", tls.PrivateKey) }.Where(f => string.IsNullOrEmpty(f.Item2)).Select(f => f.Item1).ToArray();
            if (missing.Length > 0)
            {
                p.Error($"{path}.mode", $"tls mode MUTUAL needs {string.Join(" and ", missing)} (PEM files on the sidecar's machine)");
            }
            if (external == false)
            {
                p.Error($"{path}.mode", "tls mode MUTUAL is for hosts outside the mesh (ServiceEntry hosts); between sidecars use ISTIO_MUTUAL, the mesh's own identities");
            }
        }
        else if (tls.ClientCertificate is not null || tls.PrivateKey is not null)
        {
            p.Error(tls.ClientCertificate is not null ? $"{path}.clientCertificate" : $"{path}.privateKey",
                $"clientCertificate and privateKey are used only with tls mode MUTUAL (mode is {tls.Mode?.ToString().ToUpperInvariant() ?? "unset"})");
        }
        foreach (var (field, value) in new[] { ("clientCertificate", tls.ClientCertificate), ("privateKey", tls.PrivateKey), ("caCertificates", tls.CaCertificates) })
        {
            if (value is { Length: > 0 } && !Path.IsPathFullyQualified(value))
            {
                p.Error($"{path}.{field}", $"'{value}' must be an absolute path (the file is read on each sidecar's machine)");
            }
        }
        if (external == false && (tls.CaCertificates is not null || tls.Sni is not null || tls.SubjectAltNames.Count > 0))
        {
            p.Warning($"{path}.mode", "caCertificates, sni and subjectAltNames apply to hosts outside the mesh; a mesh host's sidecars are checked against the mesh root and their SPIFFE identity");
        }
    }

    private static void ValidateLoadBalancer(ResourceProblems<DestinationRule> p, LoadBalancerSettings? lb, string path)
    {
        if (lb is null)
        {
            return;
        }
        if (lb.Simple is not null && lb.ConsistentHash is not null)
        {
            p.Error(path, "loadBalancer takes simple or consistentHash, not both");
        }
        if (lb.Simple == SimpleLoadBalancer.Passthrough)
        {
            p.Warning($"{path}.simple", "PASSTHROUGH sends to the address the app connected to; apps call the sidecar by service name, so Mesh picks a random healthy endpoint");
        }
        if (lb.ConsistentHash is { } hash)
        {
            var keys = (hash.HttpHeaderName is null ? 0 : 1) + (hash.HttpCookie is null ? 0 : 1)
                + (hash.UseSourceIp == true ? 1 : 0) + (hash.HttpQueryParameterName is null ? 0 : 1);
            if (keys != 1)
            {
                p.Error($"{path}.consistentHash", "consistentHash needs exactly one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName");
            }
            if (hash.HttpCookie is { Name.Length: 0 })
            {
                p.Error($"{path}.consistentHash.httpCookie", "httpCookie needs a name");
            }
        }
        if (lb.LocalityLbSetting is { } locality)
        {
            var l = $"{path}.localityLbSetting";
            if (locality.Distribute.Count > 0 && locality.Failover.Count > 0)
            {
                p.Error(l, "localityLbSetting takes distribute or failover, not both");
            }
            for (var i = 0; i < locality.Distribute.Count; i++)
            {
                var sum = locality.Distribute[i].To.Values.Sum();
                if (sum != 100)
                {
                    p.Error($"{l}.distribute[{i}].to", $"locality weights sum to {sum}; they must sum to 100");
                }
                if (locality.Distribute[i].From.Length == 0)
                {
                    p.Error($"{l}.distribute[{i}]", "distribute needs from");
                }
            }
            for (var i = 0; i < locality.Failover.Count; i++)
            {
                var failover = locality.Failover[i];
                if (failover.From.Length == 0 || failover.To.Length == 0 || failover.From.Contains('/') || failover.To.Contains('/'))
                {
                    p.Error($"{l}.failover[{i}]", $"failover names regions: from and to are region names without '/', got from '{failover.From}' to '{failover.To}'");
                }
                else if (failover.From == failover.To)
                {
                    p.Error($"{l}.failover[{i}].to", $"failover from region '{failover.From}' to itself");
                }
            }
        }
    }
}
