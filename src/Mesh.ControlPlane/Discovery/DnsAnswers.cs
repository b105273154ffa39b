using System.Net;
using System.Net.Sockets;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Discovery;

/// <summary>What a DNS question about the registry is answered with, kept apart from the wire format (<see cref="DnsEndpoint"/>).</summary>
internal enum DnsOutcome
{
    /// <summary>The name is one of ours and exists (the list of records may still be empty: no healthy instance, or no record of the type asked).</summary>
    Found,

    /// <summary>The name is in one of our zones but names nothing registered: NXDOMAIN.</summary>
    NoSuchName,

    /// <summary>The name is outside the zones the registry answers for: REFUSED (the registry is not a recursive resolver).</summary>
    NotOurs,
}

internal enum DnsRecordKind { A, Aaaa, Srv, Cname }

/// <summary>One answer record: its owner name and, by kind, an address, a target name and a port.</summary>
internal sealed record DnsAnswer(DnsRecordKind Kind, string Name, IPAddress? Address = null, string? Target = null, int Port = 0);

/// <summary>
/// Names the registry answers for, as Consul's DNS interface and Kubernetes' cluster DNS spell them:
/// <list type="bullet">
/// <item><c>&lt;service&gt;.service.consul</c> (namespace <c>default</c>, as Consul without namespaces), <c>&lt;service&gt;.service.&lt;namespace&gt;.ns.consul</c>;</item>
/// <item><c>&lt;tag&gt;.&lt;service&gt;.service[.&lt;namespace&gt;.ns].consul</c>: the instances carrying that tag (<see cref="ServiceInstance.ConsulTags"/>);</item>
/// <item><c>&lt;service&gt;.&lt;namespace&gt;.svc.cluster.local</c>;</item>
/// <item><c>&lt;hex-ipv4&gt;.addr.consul</c>: the address an SRV answer's target stands for (Consul's form).</item>
/// </list>
/// A and AAAA answers hold each healthy instance's address (a CNAME when its address is a host name),
/// SRV answers its port with the address in the additional section. Unhealthy instances are never in an answer.
/// </summary>
internal static class DnsAnswers
{
    public static (DnsOutcome Outcome, IReadOnlyList<DnsAnswer> Answers, IReadOnlyList<DnsAnswer> Additional) Resolve(string question, DnsRecordKind? kind, IEnumerable<ServiceInstance> registry)
    {
        var name = question.TrimEnd('.').ToLowerInvariant();
        var labels = name.Split('.');
        if (Parse(labels) is not { } query)
        {
            return (name.EndsWith(".consul", StringComparison.Ordinal) || name == "consul" || name.EndsWith(".cluster.local", StringComparison.Ordinal) ? DnsOutcome.NoSuchName : DnsOutcome.NotOurs, [], []);
        }
        if (query.Address is { } address)
        {
            var addressKind = address.AddressFamily == AddressFamily.InterNetworkV6 ? DnsRecordKind.Aaaa : DnsRecordKind.A;
            return (DnsOutcome.Found, kind == addressKind || kind is null ? [new DnsAnswer(addressKind, name, address)] : [], []);
        }
        var instances = registry.Where(i => string.Equals(i.Service, query.Service, StringComparison.OrdinalIgnoreCase)
            && string.Equals(i.Namespace, query.Namespace, StringComparison.OrdinalIgnoreCase)).ToArray();
        if (instances.Length == 0)
        {
            return (DnsOutcome.NoSuchName, [], []);
        }
        var healthy = instances.Where(i => i.Health == HealthStatus.Healthy && (query.Tag is null || HasTag(i, query.Tag)))
            .OrderBy(i => i.InstanceId, StringComparer.Ordinal).ToArray();
        if (query.Tag is not null && !instances.Any(i => HasTag(i, query.Tag)))
        {
            return (DnsOutcome.NoSuchName, [], []);
        }
        var answers = new List<DnsAnswer>();
        var additional = new List<DnsAnswer>();
        foreach (var instance in healthy)
        {
            var ip = IPAddress.TryParse(instance.Address, out var parsed) ? parsed : null;
            switch (kind)
            {
                case DnsRecordKind.Srv:
                    var target = ip is null ? instance.Address.TrimEnd('.') : AddrName(ip);
                    answers.Add(new DnsAnswer(DnsRecordKind.Srv, name, Target: target, Port: instance.Port));
                    if (ip is not null && !additional.Any(a => a.Name == target))
                    {
                        additional.Add(new DnsAnswer(ip.AddressFamily == AddressFamily.InterNetworkV6 ? DnsRecordKind.Aaaa : DnsRecordKind.A, target, ip));
                    }
                    break;
                case DnsRecordKind.A or DnsRecordKind.Aaaa or null:
                    var family = kind == DnsRecordKind.Aaaa ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
                    if (ip is null)
                    {
                        answers.Add(new DnsAnswer(DnsRecordKind.Cname, name, Target: instance.Address.TrimEnd('.')));
                    }
                    else if (ip.AddressFamily == family && !answers.Any(a => ip.Equals(a.Address)))
                    {
                        // Instances behind one address (sidecars on one host) are one A record: DNS has no ports.
                        answers.Add(new DnsAnswer(kind == DnsRecordKind.Aaaa ? DnsRecordKind.Aaaa : DnsRecordKind.A, name, ip));
                    }
                    break;
            }
        }
        return (DnsOutcome.Found, answers, additional);
    }

    private sealed record Query(string Service, string Namespace, string? Tag, IPAddress? Address);

    private static Query? Parse(string[] labels)
    {
        // <hex>.addr.consul: 8 hex digits for IPv4, 32 for IPv6
        if (labels is [var hex, "addr", "consul"] && hex.Length is 8 or 32 && hex.All(Uri.IsHexDigit))
        {
            return new Query("", "", null, new IPAddress(Convert.FromHexString(hex)));
        }
        // <service>.<namespace>.svc.cluster.local
        if (labels is [var svc, var svcNamespace, "svc", "cluster", "local"])
        {
            return new Query(svc, svcNamespace, null, null);
        }
        // [<tag>.]<service>.service[.<namespace>.ns].consul
        if (labels.Length >= 3 && labels[^1] == "consul")
        {
            var rest = labels[..^1];
            var ns = "default";
            if (rest.Length >= 4 && rest[^1] == "ns")
            {
                ns = rest[^2];
                rest = rest[..^2];
            }
            return rest switch
            {
                [var service, "service"] => new Query(service, ns, null, null),
                [var tag, var service, "service"] => new Query(service, ns, tag, null),
                _ => null,
            };
        }
        return null;
    }

    private static bool HasTag(ServiceInstance instance, string tag) =>
        instance.ConsulTags.Contains(tag, StringComparer.OrdinalIgnoreCase);

    /// <summary>Consul's name for an address: its bytes in hex, e.g. 7f000001.addr.consul.</summary>
    internal static string AddrName(IPAddress address) => Convert.ToHexStringLower(address.GetAddressBytes()) + ".addr.consul";
}
