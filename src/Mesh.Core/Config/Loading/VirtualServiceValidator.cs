using Mesh.Core.Config.Model;
using Mesh.Core.Routing;

namespace Mesh.Core.Config.Loading;

internal static class VirtualServiceValidator
{
    /// <summary>Envoy's retry conditions that Istio passes through in <c>retryOn</c>, besides status codes.</summary>
    internal static readonly IReadOnlySet<string> RetryConditions = new HashSet<string>(StringComparer.Ordinal)
    {
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "refused-stream",
        "retriable-4xx", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
        "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
    };

    private static readonly int[] RedirectCodes = [301, 302, 303, 307, 308];

    public static void Validate(ResourceProblems<VirtualService> p, Dictionary<string, HashSet<string>> subsets,
        ConfigValidator.HostIndex hosts, Dictionary<string, Resource<VirtualService>> routedBy,
        IReadOnlyDictionary<(string, string), Resource<Gateway>> gateways)
    {
        var vs = p.Resource;
        var spec = vs.Spec;
        if (spec.Hosts.Count == 0)
        {
            p.Error("spec.hosts", "a VirtualService needs at least one host");
        }
        var bound = ValidateGateways(p, gateways);
        var mesh = GatewayBinding.BindsMesh(vs);
        for (var i = 0; i < spec.Hosts.Count; i++)
        {
            var path = $"spec.hosts[{i}]";
            // '*' means any Host header, which only a gateway receives; sidecars route by service name.
            if (!HostName.IsValid(spec.Hosts[i]) && !(spec.Hosts[i] == "*" && !mesh))
            {
                p.Error(path, spec.Hosts[i] == "*"
                    ? "host '*' is allowed only in a VirtualService bound to gateways alone (not to 'mesh')"
                    : $"'{spec.Hosts[i]}' is not a valid host name");
                continue;
            }
            var host = spec.Hosts[i] == "*" ? "*" : HostName.Canonical(spec.Hosts[i], vs.Metadata.Namespace);
            // The first VirtualService for a host wins in each context: sidecars ('mesh') and each gateway.
            var contexts = (mesh ? [""] : Array.Empty<string>()).Concat(bound.Select(g => $"{g.Metadata.Namespace}/{g.Metadata.Name}|"));
            foreach (var context in contexts)
            {
                if (routedBy.TryGetValue(context + host, out var first))
                {
                    var where = context.Length == 0 ? "" : $" at gateway {context.TrimEnd('|')}";
                    p.Warning(path, $"host '{spec.Hosts[i]}' is already routed{where} by VirtualService '{first.Metadata.Name}' ({ConfigValidator.Where(first, "metadata.name")}); only that one applies, as in Istio");
                }
                else
                {
                    routedBy[context + host] = vs;
                }
            }
            foreach (var gateway in bound)
            {
                if (!GatewayBinding.Serves(gateway, spec.Hosts[i], vs.Metadata.Namespace))
                {
                    p.Warning(path, $"host '{spec.Hosts[i]}' matches no server host of Gateway {gateway.Metadata.Namespace}/{gateway.Metadata.Name} (its hosts: {string.Join(", ", gateway.Spec.Servers.SelectMany(s => s.Hosts).Distinct())}), so that gateway does not route it");
                }
            }
        }
        if (spec.Http.Count == 0 && spec.Tcp.Count == 0 && spec.Tls.Count == 0)
        {
            p.Warning("spec", "no http rules: requests to these hosts get 404 (no rule matches)");
        }
        TcpRouteValidator.Validate(p, subsets, hosts, mesh);
        for (var r = 0; r < spec.Http.Count; r++)
        {
            ValidateRule(p, spec.Http[r], $"spec.http[{r}]", subsets, hosts, last: r == spec.Http.Count - 1);
        }
    }

    /// <summary>Checks each <c>gateways</c> entry and returns the Gateways the VirtualService binds to.</summary>
    private static List<Resource<Gateway>> ValidateGateways(ResourceProblems<VirtualService> p, IReadOnlyDictionary<(string, string), Resource<Gateway>> gateways)
    {
        var vs = p.Resource;
        var bound = new List<Resource<Gateway>>();
        for (var g = 0; g < vs.Spec.Gateways.Count; g++)
        {
            var entry = vs.Spec.Gateways[g];
            var path = $"spec.gateways[{g}]";
            if (entry == VirtualService.MeshGateway)
            {
                continue;
            }
            var (ns, name) = GatewayBinding.Reference(entry, vs.Metadata.Namespace);
            if (!IsLabel(ns) || !IsLabel(name))
            {
                p.Error(path, $"'{entry}' is not a gateway name; use 'mesh', 'name' (a Gateway in this namespace) or 'namespace/name'");
            }
            else if (!gateways.TryGetValue((ns, name), out var gateway))
            {
                var known = gateways.Keys.Select(k => $"{k.Item1}/{k.Item2}").Order(StringComparer.Ordinal).ToArray();
                p.Error(path, $"gateway '{entry}' is not defined: no Gateway '{name}' in namespace '{ns}' (known: {(known.Length == 0 ? "none" : string.Join(", ", known))})");
            }
            else if (!bound.Contains(gateway))
            {
                bound.Add(gateway);
            }
        }
        return bound;

        static bool IsLabel(string value) => HostName.IsValid(value) && !value.Contains('.') && !value.StartsWith('*');
    }

    private static void ValidateRule(ResourceProblems<VirtualService> p, HttpRoute rule, string path,
        Dictionary<string, HashSet<string>> subsets, ConfigValidator.HostIndex hosts, bool last)
    {
        var actions = (rule.Route.Count > 0 ? 1 : 0) + (rule.Redirect is null ? 0 : 1) + (rule.DirectResponse is null ? 0 : 1);
        if (actions == 0)
        {
            p.Error(path, "an http rule needs one of route, redirect or directResponse");
        }
        else if (actions > 1)
        {
            p.Error(path, "an http rule takes only one of route, redirect or directResponse");
        }
        for (var m = 0; m < rule.Match.Count; m++)
        {
            ValidateMatch(p, rule.Match[m], $"{path}.match[{m}]");
        }
        if (rule.Match.Count == 0 && !last)
        {
            p.Warning(path, "this rule has no match, so it takes every request and the rules after it are never used");
        }
        ValidateDestinations(p, rule, path, subsets, hosts);
        ValidateHeaders(p, rule.Headers, $"{path}.headers");
        if (rule.Timeout is { } timeout && timeout < TimeSpan.Zero)
        {
            p.Error($"{path}.timeout", "timeout must not be negative");
        }
        ValidateRetries(p, rule.Retries, $"{path}.retries");
        ValidateFault(p, rule.Fault, $"{path}.fault");
        ValidateRedirect(p, rule.Redirect, $"{path}.redirect");
        ValidateDirectResponse(p, rule.DirectResponse, $"{path}.directResponse");
        if (rule.Rewrite is { Uri: null, Authority: null })
        {
            p.Error($"{path}.rewrite", "rewrite needs uri or authority");
        }
        if (rule.Rewrite is { Authority: { } authority } && !HostName.IsValid(HostName.StripPort(authority)))
        {
            p.Error($"{path}.rewrite.authority", $"'{authority}' is not a valid authority");
        }
        if (rule.Mirror is { } mirror)
        {
            ValidateDestination(p, mirror, $"{path}.mirror", subsets, hosts);
        }
        else if (rule.MirrorPercentage is not null)
        {
            p.Error($"{path}.mirrorPercentage", "mirrorPercentage needs mirror");
        }
        p.Range($"{path}.mirrorPercentage.value", "mirrorPercentage", rule.MirrorPercentage?.Value, 0, 100);
    }

    private static void ValidateDestinations(ResourceProblems<VirtualService> p, HttpRoute rule, string path,
        Dictionary<string, HashSet<string>> subsets, ConfigValidator.HostIndex hosts)
    {
        var weightSum = 0;
        for (var d = 0; d < rule.Route.Count; d++)
        {
            var destinationPath = $"{path}.route[{d}]";
            var weight = rule.Route[d].Weight ?? (rule.Route.Count == 1 ? 100 : 0);
            p.Range($"{destinationPath}.weight", "weight", weight, 0, 100);
            weightSum += weight;
            ValidateHeaders(p, rule.Route[d].Headers, $"{destinationPath}.headers");
            if (rule.Route[d].Destination is not { } destination)
            {
                p.Error(destinationPath, "a route needs destination.host");
                continue;
            }
            ValidateDestination(p, destination, $"{destinationPath}.destination", subsets, hosts);
        }
        if (rule.Route.Count > 1 && weightSum != 100)
        {
            p.Error($"{path}.route", $"route weights sum to {weightSum}; they must sum to 100");
        }
    }

    /// <summary>Checks a destination; returns its canonical host when the host itself is valid.</summary>
    internal static string? ValidateDestination(ResourceProblems<VirtualService> p, Destination destination, string path,
        Dictionary<string, HashSet<string>> subsets, ConfigValidator.HostIndex hosts)
    {
        if (destination.Host.Length == 0)
        {
            p.Error(path, "a destination needs host");
            return null;
        }
        if (!HostName.IsValid(destination.Host) || destination.Host.StartsWith('*'))
        {
            p.Error($"{path}.host", $"'{destination.Host}' is not a valid destination host");
            return null;
        }
        var host = HostName.Canonical(destination.Host, p.Resource.Metadata.Namespace);
        if (destination.Subset is { } subset && (!subsets.TryGetValue(host, out var names) || !names.Contains(subset)))
        {
            p.Error($"{path}.subset", $"subset '{subset}' of host '{destination.Host}' is not defined by any DestinationRule");
        }
        p.Range($"{path}.port.number", "port", destination.Port?.Number, 1, 65535);
        p.HostResolves($"{path}.host", destination.Host, host, hosts, "destination host");
        return host;
    }

    private static void ValidateMatch(ResourceProblems<VirtualService> p, HttpMatchRequest match, string path)
    {
        if (match.SourceNamespace is { } ns && (!HostName.IsValid(ns) || ns.Contains('.')))
        {
            p.Error($"{path}.sourceNamespace", $"'{ns}' is not a namespace (a DNS label)");
        }
        foreach (var (key, value) in match.SourceLabels)
        {
            if (key.Length == 0 || value is null)
            {
                p.Error($"{path}.sourceLabels", "sourceLabels needs label keys with string values, e.g. {version: v2}");
            }
        }
        ValidateStringMatch(p, match.Uri, $"{path}.uri", presenceAllowed: false, match.IgnoreUriCase);
        ValidateStringMatch(p, match.Method, $"{path}.method", presenceAllowed: false);
        ValidateStringMatch(p, match.Authority, $"{path}.authority", presenceAllowed: false);
        foreach (var (name, value) in match.Headers)
        {
            ValidateHeaderName(p, name, $"{path}.headers.{name}");
            ValidateStringMatch(p, value, $"{path}.headers.{name}", presenceAllowed: true);
        }
        foreach (var (name, value) in match.WithoutHeaders)
        {
            ValidateHeaderName(p, name, $"{path}.withoutHeaders.{name}");
            ValidateStringMatch(p, value, $"{path}.withoutHeaders.{name}", presenceAllowed: true);
        }
        foreach (var (name, value) in match.QueryParams)
        {
            ValidateStringMatch(p, value, $"{path}.queryParams.{name}", presenceAllowed: true);
            if (value.Prefix is not null)
            {
                p.Error($"{path}.queryParams.{name}.prefix", "queryParams match exact or regex only, as in Istio");
            }
        }
    }

    private static void ValidateStringMatch(ResourceProblems<VirtualService> p, StringMatch? match, string path, bool presenceAllowed, bool ignoreCase = false)
    {
        if (match is null)
        {
            return;
        }
        var set = (match.Exact is null ? 0 : 1) + (match.Prefix is null ? 0 : 1) + (match.Regex is null ? 0 : 1);
        if (set > 1 || (set == 0 && !presenceAllowed))
        {
            p.Error(path, "a string match needs exactly one of exact, prefix or regex");
        }
        if (match.Regex is { } pattern)
        {
            try
            {
                StringMatcher.CompileRegex(pattern, ignoreCase);
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                p.Error($"{path}.regex", $"regex '{pattern}' does not compile: {e.Message}");
            }
        }
    }

    private static void ValidateHeaders(ResourceProblems<VirtualService> p, Headers? headers, string path)
    {
        foreach (var (operations, side) in new[] { (headers?.Request, "request"), (headers?.Response, "response") })
        {
            if (operations is null)
            {
                continue;
            }
            var names = operations.Set.Keys.Select(n => (n, $"{path}.{side}.set.{n}"))
                .Concat(operations.Add.Keys.Select(n => (n, $"{path}.{side}.add.{n}")))
                .Concat(operations.Remove.Select((n, i) => (n, $"{path}.{side}.remove[{i}]")));
            foreach (var (name, namePath) in names)
            {
                ValidateHeaderName(p, name, namePath);
                if (name.StartsWith(':') || name.Equals("host", StringComparison.OrdinalIgnoreCase))
                {
                    p.Error(namePath, $"header '{name}' cannot be changed here; use rewrite.authority for the host");
                }
            }
        }
    }

    private static void ValidateHeaderName(ResourceProblems<VirtualService> p, string name, string path)
    {
        var token = name.StartsWith(':') ? name[1..] : name;
        if (token.Length == 0 || !token.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)))
        {
            p.Error(path, $"'{name}' is not a valid header name");
        }
    }

    private static void ValidateRetries(ResourceProblems<VirtualService> p, HttpRetry? retries, string path)
    {
        if (retries is null)
        {
            return;
        }
        if (retries.Attempts < 0)
        {
            p.Error($"{path}.attempts", $"attempts must be 0 or more, got {retries.Attempts}");
        }
        p.Positive($"{path}.perTryTimeout", "perTryTimeout", retries.PerTryTimeout);
        foreach (var condition in (retries.RetryOn ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!RetryConditions.Contains(condition) && !(int.TryParse(condition, out var code) && code is >= 100 and <= 599))
            {
                p.Error($"{path}.retryOn", $"unknown retry condition '{condition}'; use status codes or {string.Join(", ", RetryConditions.Order(StringComparer.Ordinal))}");
            }
        }
    }

    private static void ValidateFault(ResourceProblems<VirtualService> p, HttpFaultInjection? fault, string path)
    {
        if (fault is null)
        {
            return;
        }
        if (fault.Delay is null && fault.Abort is null)
        {
            p.Error(path, "fault needs delay or abort");
        }
        if (fault.Delay is { } delay)
        {
            if (delay.FixedDelay is null)
            {
                p.Error($"{path}.delay", "delay needs fixedDelay");
            }
            p.Positive($"{path}.delay.fixedDelay", "fixedDelay", delay.FixedDelay);
            p.Range($"{path}.delay.percentage.value", "percentage", delay.Percentage?.Value, 0, 100);
            p.Range($"{path}.delay.percent", "percent", delay.Percent, 0, 100);
        }
        if (fault.Abort is { } abort)
        {
            if (abort.HttpStatus is null)
            {
                p.Error($"{path}.abort", "abort needs httpStatus");
            }
            p.Range($"{path}.abort.httpStatus", "httpStatus", abort.HttpStatus, 200, 599);
            p.Range($"{path}.abort.percentage.value", "percentage", abort.Percentage?.Value, 0, 100);
            p.Range($"{path}.abort.percent", "percent", abort.Percent, 0, 100);
        }
    }

    private static void ValidateRedirect(ResourceProblems<VirtualService> p, HttpRedirect? redirect, string path)
    {
        if (redirect is null)
        {
            return;
        }
        if (redirect.RedirectCode is { } code && !RedirectCodes.Contains(code))
        {
            p.Error($"{path}.redirectCode", $"redirectCode {code} is not a redirect; use one of {string.Join(", ", RedirectCodes)}");
        }
        if (redirect.Scheme is { } scheme && scheme is not ("http" or "https"))
        {
            p.Error($"{path}.scheme", $"scheme '{scheme}' must be http or https");
        }
        p.Range($"{path}.port", "port", redirect.Port, 1, 65535);
        if (redirect.Uri is { } uri && !uri.StartsWith('/'))
        {
            p.Error($"{path}.uri", $"uri '{uri}' must start with '/'");
        }
    }

    private static void ValidateDirectResponse(ResourceProblems<VirtualService> p, HttpDirectResponse? response, string path)
    {
        if (response is null)
        {
            return;
        }
        p.Range($"{path}.status", "status", response.Status, 200, 599);
        if (response.Body is { String: not null, Bytes: not null })
        {
            p.Error($"{path}.body", "body takes string or bytes, not both");
        }
        if (response.Body is { Bytes: { } bytes } && !Convert.TryFromBase64String(bytes, new byte[bytes.Length], out _))
        {
            p.Error($"{path}.body.bytes", "bytes must be base64");
        }
    }
}
