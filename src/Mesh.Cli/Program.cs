using System.CommandLine;
using Mesh.Cli;
using Mesh.Core.Failover;
using Mesh.Core.Hosting;

// meshctl: checks config offline and talks to the control plane's admin API. Parsed by System.CommandLine:
// generated help (`meshctl -h`, `meshctl get -h`), suggestions for mistyped commands, and the global
// options anywhere on the line.
var admin = new Option<IReadOnlyList<Uri>>("--admin")
{
    Description = "the control plane's admin API; replicas comma-separated (http://10.0.0.1:15014,http://10.0.0.2:15014): the first that answers is used",
    DefaultValueFactory = _ => [new Uri("http://127.0.0.1:15014")],
    Recursive = true,
    CustomParser = r =>
    {
        try
        {
            return ServerList.Parse("admin", r.Tokens.Single().Value, "http", "https");
        }
        catch (UsageException e)
        {
            return Fail<IReadOnlyList<Uri>>(r, e.Message);
        }
    },
};
var tokenFile = new Option<FileInfo>("--token-file")
{
    Description = "the admin token file (<data-dir>/admin-token of the control plane); or MESH_ADMIN_TOKEN",
    Recursive = true,
};
tokenFile.AcceptExistingOnly();
var format = new Option<string>("--output", "-o")
{
    Description = "how answers are printed",
    DefaultValueFactory = _ => "table",
    Recursive = true,
};
format.AcceptOnlyFromAmong("table", "json", "yaml");

var root = new RootCommand("meshctl: check Mesh config offline, and inspect and steer a running control plane through its admin API.")
{
    admin, tokenFile, format,
};

Admin Connect(ParseResult p, TimeSpan timeout) =>
    new(p.GetValue(admin)!, p.GetValue(tokenFile) is { } file ? File.ReadAllText(file.FullName).Trim() : Environment.GetEnvironmentVariable("MESH_ADMIN_TOKEN"), timeout, p.GetValue(format)!);

// proxy-status
var proxyStatus = new Command("proxy-status", "every sidecar and whether it applied the current version");
proxyStatus.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await Inspect.ProxyStatusAsync(a, cancel);
});
root.Add(proxyStatus);

// validate / apply / delete
var paths = new Argument<string[]>("paths") { Description = "files (or, offline, directories) of Istio YAML", Arity = ArgumentArity.OneOrMore };
var remote = new Option<bool>("--remote") { Description = "check against the running control plane (POST /v1/validate) instead of offline" };
var validate = new Command("validate", "check VirtualService, DestinationRule, ServiceEntry, Gateway and policy YAML; exit 1 on any error") { paths, remote };
validate.SetAction(async (p, cancel) =>
{
    if (!p.GetValue(remote))
    {
        return ConfigCommands.ValidateOffline(p.GetValue(paths)!, Console.Out);
    }
    using var a = Connect(p, TimeSpan.FromSeconds(30));
    return await ConfigCommands.SendAsync(a.Http, "/v1/validate", "valid", p.GetValue(paths)!, Console.Out);
});
root.Add(validate);
foreach (var (name, endpoint, done, help) in new[]
{
    ("apply", "/v1/apply", "configured", "apply resources as kubectl apply does: each replaces the resource of the same kind, namespace and name"),
    ("delete", "/v1/delete", "deleted", "remove resources applied with apply"),
})
{
    var files = new Option<string[]>("--filename", "-f") { Description = "a YAML file (repeatable)", Required = true, AllowMultipleArgumentsPerToken = true };
    var command = new Command(name, help) { files };
    command.SetAction(async (p, cancel) =>
    {
        using var a = Connect(p, TimeSpan.FromSeconds(30));
        return await ConfigCommands.SendAsync(a.Http, endpoint, done, p.GetValue(files)!, Console.Out);
    });
    root.Add(command);
}

// join-token create | list | revoke
var joinToken = new Command("join-token", "join tokens sidecars present for their first workload certificate");
var scopeService = new Option<string?>("--service") { Description = "scope the token to this service" };
var scopeNamespace = new Option<string?>("--namespace") { Description = "scope the token to this namespace" };
var ttl = new Option<string?>("--ttl") { Description = "expiry, e.g. 24h" };
var description = new Option<string?>("--description") { Description = "a note shown by list" };
var create = new Command("create", "make a join token (printed once, on stdout)") { scopeService, scopeNamespace, ttl, description };
create.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await JoinTokenCommands.CreateAsync(a.Http, p.GetValue(scopeService), p.GetValue(scopeNamespace), p.GetValue(ttl), p.GetValue(description), Console.Out, Console.Error);
});
var list = new Command("list", "tokens by id, scope, expiry and revocation (never the secret)");
list.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await JoinTokenCommands.ListAsync(a.Http, Console.Out, Console.Error);
});
var tokenId = new Argument<string>("id") { Description = "the token's id (from list)" };
var revoke = new Command("revoke", "revoke a token: it gets no more certificates") { tokenId };
revoke.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await JoinTokenCommands.RevokeAsync(a.Http, p.GetValue(tokenId)!, Console.Out, Console.Error);
});
joinToken.Add(create);
joinToken.Add(list);
joinToken.Add(revoke);
root.Add(joinToken);

// get services | instances | config | tokens
var what = new Argument<string>("what") { Description = "services, instances, config or tokens" };
what.AcceptOnlyFromAmong("services", "instances", "config", "tokens");
var get = new Command("get", "list what the control plane holds") { what };
get.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await Inspect.GetAsync(a, p.GetValue(what)!, cancel);
});
root.Add(get);

// stat: golden signals
var window = new Option<string>("--window") { Description = "how far back, 1s to 5m", DefaultValueFactory = _ => "1m" };
var edges = new Option<bool>("--edges") { Description = "per caller → callee edge (the service graph) instead of per service" };
var stat = new Command("stat", "golden signals from what sidecars report: request rate, success rate, p50 and p99 per service, or per edge") { window, edges };
stat.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await Inspect.StatAsync(a, p.GetValue(window)!, p.GetValue(edges), cancel);
});
root.Add(stat);

// describe service NAME
var serviceName = new Argument<string>("name") { Description = "the service, e.g. reviews or reviews.shop" };
var describeService = new Command("service", "what applies to a service: its VirtualServices, DestinationRule and policies, subsets with their endpoints and health") { serviceName };
describeService.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await Inspect.DescribeServiceAsync(a, p.GetValue(serviceName)!, cancel);
});
var describe = new Command("describe", "explain one thing in detail") { describeService };
root.Add(describe);

// explain: why did it go there?
var target = new Argument<string>("request") { Description = "what the app calls: http://reviews/api/1, reviews/api/1 or reviews" };
var from = new Option<string>("--from") { Description = "the calling service, e.g. productpage or productpage.shop", Required = true };
var labels = new Option<string[]>("--label") { Description = "a label of the calling instance, key=value (repeatable)", AllowMultipleArgumentsPerToken = false };
var method = new Option<string>("--method", "-X") { Description = "the request's method", DefaultValueFactory = _ => "GET" };
var headers = new Option<string[]>("--header", "-H") { Description = "a request header, 'name: value' (repeatable)" };
var explain = new Command("explain", "for a request from a service: which rule matches, the weighted destinations, the endpoints each could get, and the policies that apply")
{
    target, from, labels, method, headers,
};
explain.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await Inspect.ExplainAsync(a, new ExplainRequest(p.GetValue(target)!, p.GetValue(from)!, p.GetValue(labels) ?? [], p.GetValue(method)!, p.GetValue(headers) ?? []), cancel);
});
root.Add(explain);

// history | diff A [B] | rollback V
var history = new Command("history", "the kept config versions, newest first: when, how (file, apply, delete, reload, rollback), by which token, what changed");
history.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await HistoryCommands.HistoryAsync(a, cancel);
});
root.Add(history);
var diffFrom = new Argument<long>("from") { Description = "a config version (meshctl history lists them)", CustomParser = r => ConfigVersion(r) ?? 0 };
var diffTo = new Argument<long?>("to") { Description = "another version; the running one when left out", Arity = ArgumentArity.ZeroOrOne, CustomParser = ConfigVersion };
var diff = new Command("diff", "what changed between two config versions, resource by resource, as unified diffs of their YAML") { diffFrom, diffTo };
diff.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(10));
    return await HistoryCommands.DiffAsync(a, p.GetValue(diffFrom), p.GetValue(diffTo), cancel);
});
root.Add(diff);
var rollbackTo = new Argument<long>("version") { Description = "the config version whose resources to serve again", CustomParser = r => ConfigVersion(r) ?? 0 };
var yes = new Option<bool>("--yes", "-y") { Description = "do not ask for confirmation" };
var rollback = new Command("rollback", "serve an earlier version's resources again, as a new version validated like any change (docs/history.md)") { rollbackTo, yes };
rollback.SetAction(async (p, cancel) =>
{
    using var a = Connect(p, TimeSpan.FromSeconds(30));
    return await HistoryCommands.RollbackAsync(a, p.GetValue(rollbackTo), p.GetValue(yes), Console.In, cancel);
});
root.Add(rollback);

if (args.Length == 0)
{
    await root.Parse(["-h"]).InvokeAsync();
    return Flags.UsageExitCode;
}
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0 && !parsed.Tokens.Any(t => t.Value is "-h" or "--help" or "-?"))
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"meshctl: {error.Message}");
    }
    // A mistyped command: the nearest one by edit distance.
    if (parsed.UnmatchedTokens.FirstOrDefault() is { } typo && Flags.Nearest(parsed.CommandResult.Command.Subcommands.Select(c => c.Name), typo, most: 2) is { } near)
    {
        Console.Error.WriteLine($"meshctl: did you mean '{near}'?");
    }
    Console.Error.WriteLine("meshctl -h lists the commands; meshctl <command> -h explains one");
    return Flags.UsageExitCode;
}
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
{
    // A stack trace is not an error message: say which control plane could not be reached and why.
    Console.Error.WriteLine($"meshctl: cannot reach the control plane's admin API at {parsed.GetValue(admin)}: {e.Message}");
    return 1;
}

static long? ConfigVersion(System.CommandLine.Parsing.ArgumentResult result) =>
    result.Tokens.Count == 0 ? null
    : long.TryParse(result.Tokens[0].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version) && version > 0 ? version
    : Fail<long?>(result, $"{result.Argument.Name} expects a config version number (meshctl history lists them), got '{result.Tokens[0].Value}'");

static T Fail<T>(System.CommandLine.Parsing.ArgumentResult result, string message)
{
    result.AddError(message);
    return default!;
}
