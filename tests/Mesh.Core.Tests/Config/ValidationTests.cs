using Mesh.Core.Config.Loading;

namespace Mesh.Core.Tests.Config;

/// <summary>
/// One test per kind of error: each names the file, the line and column of the offending field,
/// its path, and the value. The marker is the text the error must point at.
/// </summary>
public sealed class ValidationTests
{
    private const string Subsets = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
        ---

        """;

    private static ConfigError Problem(string yaml, string path, ConfigSeverity severity = ConfigSeverity.Error, IReadOnlySet<string>? registered = null)
    {
        var result = ConfigLoader.Load([("bad.yaml", Subsets + yaml)], registered);
        var matching = result.Problems.Where(p => p.Path == path && p.Severity == severity).ToArray();
        Assert.True(matching.Length == 1, $"expected one {severity} at {path}; got:\n{string.Join("\n", result.Problems)}");
        Assert.Equal(severity == ConfigSeverity.Error, !result.Succeeded);
        return matching[0];
    }

    private static void AssertAt(ConfigError error, string yaml, string marker)
    {
        var lines = (Subsets + yaml).Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains(marker, StringComparison.Ordinal));
        Assert.True(line >= 0, $"marker '{marker}' not in the YAML");
        Assert.Equal("bad.yaml", error.File);
        Assert.Equal((line + 1, lines[line].IndexOf(marker, StringComparison.Ordinal) + 1), (error.Line, error.Column));
        Assert.StartsWith($"bad.yaml:{line + 1}:", error.ToString(), StringComparison.Ordinal);
    }

    private static string Rule(string rule) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {"{"}name: reviews{"}"}
        spec:
          hosts: [reviews]
          http:
        {rule}
        """;

    public static TheoryData<string, string, string, string> VirtualServiceErrors => new()
    {
        // rule YAML, marker, field path, message fragment (with the offending value)
        {
            "  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 80}\n    - {destination: {host: reviews, subset: v2}, weight: 30}",
            "- {destination: {host: reviews, subset: v1}", "spec.http[0].route", "route weights sum to 110; they must sum to 100"
        },
        {
            "  - route:\n    - destination: {host: reviews, subset: v9}",
            "v9", "spec.http[0].route[0].destination.subset", "subset 'v9' of host 'reviews' is not defined by any DestinationRule"
        },
        {
            "  - match:\n    - uri: {regex: '/reviews/[0-9'}\n    route:\n    - destination: {host: reviews}",
            "'/reviews/[0-9'", "spec.http[0].match[0].uri.regex", "regex '/reviews/[0-9' does not compile"
        },
        {
            "  - match:\n    - headers: {cookie: {regex: '(?=user)'}}\n    route:\n    - destination: {host: reviews}",
            "'(?=user)'", "spec.http[0].match[0].headers.cookie.regex", "regex '(?=user)' does not compile"
        },
        {
            "  - timeout: 10 seconds\n    route:\n    - destination: {host: reviews}",
            "10 seconds", "spec.http[0].timeout", "10 seconds"
        },
        {
            "  - route:\n    - destination: {host: reviews}\n    redirect: {uri: /new}",
            "route:", "spec.http[0]", "only one of route, redirect or directResponse"
        },
        {
            "  - retries: {attempts: 3, retryOn: '5xx,sometimes'}\n    route:\n    - destination: {host: reviews}",
            "'5xx,sometimes'", "spec.http[0].retries.retryOn", "unknown retry condition 'sometimes'"
        },
        {
            "  - fault: {abort: {httpStatus: 503, percentage: {value: 150}}}\n    route:\n    - destination: {host: reviews}",
            "150", "spec.http[0].fault.abort.percentage.value", "percentage 150 is out of range 0-100"
        },
        {
            "  - redirect: {uri: /new, redirectCode: 200}",
            "200", "spec.http[0].redirect.redirectCode", "redirectCode 200 is not a redirect"
        },
        {
            "  - directResponse: {status: 200, body: {bytes: 'not base64!'}}",
            "'not base64!'", "spec.http[0].directResponse.body.bytes", "bytes must be base64"
        },
        {
            "  - match:\n    - queryParams: {v: {prefix: '2'}}\n    route:\n    - destination: {host: reviews}",
            "'2'", "spec.http[0].match[0].queryParams.v.prefix", "queryParams match exact or regex only"
        },
        {
            "  - route:\n    - destination: {host: reviews, port: {number: 70000}}",
            "70000", "spec.http[0].route[0].destination.port.number", "port 70000 is out of range 1-65535"
        },
        {
            "  - route:\n    - destination: {host: reviews}\n    headers: {request: {set: {'bad header': x}}}",
            "x}}}", "spec.http[0].headers.request.set.bad header", "'bad header' is not a valid header name"
        },
        {
            "  - route:\n    - destination: {host: reviews}\n    mirrorPercentage: {value: 10}",
            "{value: 10}", "spec.http[0].mirrorPercentage", "mirrorPercentage needs mirror"
        },
        {
            "  - fault: {delay: {fixedDelay: 0s}}\n    route:\n    - destination: {host: reviews}",
            "0s", "spec.http[0].fault.delay.fixedDelay", "fixedDelay must be greater than 0, got 0s"
        },
    };

    [Theory]
    [MemberData(nameof(VirtualServiceErrors))]
    public void VirtualService_EachErrorKind_NamesPositionPathAndValue(string rule, string marker, string path, string message)
    {
        var yaml = Rule(rule);

        var error = Problem(yaml, path);

        AssertAt(error, yaml, marker);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string, string> OtherErrors => new()
    {
        {
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  trafficPolicy:\n    loadBalancer: {simple: RANDOM, consistentHash: {httpHeaderName: x-user}}",
            "{simple: RANDOM", "spec.trafficPolicy.loadBalancer", "loadBalancer takes simple or consistentHash, not both"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  trafficPolicy:\n    loadBalancer: {simple: FASTEST}",
            "FASTEST", "spec.trafficPolicy.loadBalancer.simple", "FASTEST"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  trafficPolicy:\n    tls: {mode: MUTUAL}",
            "MUTUAL", "spec.trafficPolicy.tls.mode", "tls mode MUTUAL needs clientCertificate and privateKey (PEM files on the sidecar's machine)"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  trafficPolicy:\n    tls: {mode: MUTUAL, clientCertificate: /etc/c.pem}",
            "MUTUAL", "spec.trafficPolicy.tls.mode", "tls mode MUTUAL needs privateKey (PEM files on the sidecar's machine)"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  trafficPolicy:\n    tls: {mode: SIMPLE, clientCertificate: /etc/c.pem}",
            "/etc/c.pem", "spec.trafficPolicy.tls.clientCertificate", "clientCertificate and privateKey are used only with tls mode MUTUAL (mode is SIMPLE)"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  trafficPolicy:\n    tls: {mode: MUTUAL, clientCertificate: certs/c.pem, privateKey: /k.pem}",
            "certs/c.pem", "spec.trafficPolicy.tls.clientCertificate", "'certs/c.pem' must be an absolute path (the file is read on each sidecar's machine)"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  trafficPolicy:\n    loadBalancer:\n      localityLbSetting:\n        distribute:\n        - from: us-east/*\n          to: {us-east/*: 80, us-west/*: 10}",
            "{us-east/*: 80", "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to", "locality weights sum to 90"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: api}\nspec:\n  hosts: [api.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: NONE",
            "NONE", "spec.resolution", "resolution NONE"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: api}\nspec:\n  hosts: [api.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints:\n  - address: api-1.example.com",
            "api-1.example.com", "spec.endpoints[0].address", "resolution STATIC needs IP addresses, got 'api-1.example.com'"
        },
        {
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: dns}\nspec:\n  hosts: [dns.example.com]\n  ports: [{number: 53, name: dns, protocol: UDP}]\n  resolution: DNS",
            "UDP", "spec.ports[0].protocol", "protocol 'UDP' is not proxied by Mesh"
        },
    };

    [Theory]
    [MemberData(nameof(OtherErrors))]
    public void DestinationRuleAndServiceEntry_EachErrorKind_NamesPositionPathAndValue(string yaml, string marker, string path, string message)
    {
        var error = Problem(yaml, path);

        AssertAt(error, yaml, marker);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HostThatResolvesNowhere_IsAWarningWhenTheRegistryIsKnown()
    {
        var yaml = Rule("  - route:\n    - destination: {host: reveiws}");

        var warning = Problem(yaml, "spec.http[0].route[0].destination.host", ConfigSeverity.Warning, registered: new HashSet<string> { "reviews.default" });

        AssertAt(warning, yaml, "reveiws");
        Assert.Contains("'reveiws' resolves nowhere", warning.Message, StringComparison.Ordinal);
        // Offline (registry unknown) the same file has no such warning.
        Assert.DoesNotContain(ConfigLoader.Load([("bad.yaml", Subsets + yaml)]).Problems, p => p.Message.Contains("resolves nowhere", StringComparison.Ordinal));
    }

    [Fact]
    public void DuplicateNames_AreErrorsForEveryKind()
    {
        const string se = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: api}\nspec:\n  hosts: [api.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n";
        var result = ConfigLoader.Load([("a.yaml", Subsets + se), ("b.yaml", Subsets + se)]);

        Assert.False(result.Succeeded);
        Assert.Contains(result.Errors, e => e.File == "b.yaml" && e.Message.StartsWith("duplicate DestinationRule 'reviews'", StringComparison.Ordinal) && e.Message.Contains("a.yaml:3", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.File == "b.yaml" && e.Message.StartsWith("duplicate ServiceEntry 'api'", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadChange_CandidateReplacesTheSameResourceInTheDirectory()
    {
        var directory = Directory.CreateTempSubdirectory("mesh-validate-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "reviews.yaml"), Subsets + Rule("  - route:\n    - destination: {host: reviews, subset: v1}"));
            // The same VirtualService in another file, now routing to v2: a replacement, not a duplicate.
            var changed = Rule("  - route:\n    - destination: {host: reviews, subset: v2}");
            var broken = Rule("  - route:\n    - destination: {host: reviews, subset: v7}");

            var ok = ConfigLoader.LoadChange(directory, "new.yaml", changed);
            var bad = ConfigLoader.LoadChange(directory, "new.yaml", broken);

            Assert.True(ok.Succeeded, string.Join("\n", ok.Problems));
            Assert.Equal("v2", Assert.Single(ok.Config!.VirtualServices).Spec.Http[0].Route[0].Destination!.Subset);
            Assert.Contains(bad.Errors, e => e.File == "new.yaml" && e.Message.Contains("subset 'v7'", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void LoadLayers_HigherLayerReplacesByKindNamespaceName_SameLayerIsADuplicate()
    {
        var v1 = Rule("  - route:\n    - destination: {host: reviews, subset: v1}");
        var v2 = Rule("  - route:\n    - destination: {host: reviews, subset: v2}");

        var layered = ConfigLoader.LoadLayers([new ConfigFile("dir.yaml", Subsets + v1), new ConfigFile("applied/vs.yaml", v2, Layer: 1)]);
        var flat = ConfigLoader.LoadLayers([new ConfigFile("dir.yaml", Subsets + v1), new ConfigFile("other.yaml", v2)]);

        Assert.True(layered.Succeeded, string.Join("\n", layered.Problems));
        var vs = Assert.Single(layered.Config!.VirtualServices);
        Assert.Equal(("applied/vs.yaml", "v2"), (vs.Source, vs.Spec.Http[0].Route[0].Destination!.Subset));
        Assert.Single(layered.Config.DestinationRules); // untouched resources of the lower layer stay
        Assert.Contains(flat.Errors, e => e.File == "other.yaml" && e.Message.StartsWith("duplicate VirtualService 'reviews'", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadLayers_AFileNamedLikeALowerLayersFile_IsStillALayerAboveIt()
    {
        // meshctl apply -f dir.yaml posts an edited copy of a config dir file under that file's name.
        var v1 = Rule("  - route:\n    - destination: {host: reviews, subset: v1}");
        var v2 = Rule("  - route:\n    - destination: {host: reviews, subset: v2}");

        var result = ConfigLoader.LoadLayers([new ConfigFile("dir.yaml", Subsets + v1), new ConfigFile("dir.yaml", v2, Layer: 1)]);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.Equal("v2", Assert.Single(result.Config!.VirtualServices).Spec.Http[0].Route[0].Destination!.Subset);
        Assert.Single(result.Config.DestinationRules);
    }

    [Fact]
    public void SplitDocuments_KeepsEachDocumentsTextAndIdentity_AndReportsDocumentsWithoutName()
    {
        const string text = "# the reviews rules\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\n  namespace: shop\nspec: {}\n---\n# nothing here\n---\nkind: DestinationRule\nmetadata: {}\n";

        var (documents, problems) = ConfigLoader.SplitDocuments("f.yaml", text);

        var document = Assert.Single(documents);
        Assert.Equal(("VirtualService", "shop", "reviews"), (document.Kind, document.Namespace, document.Name));
        Assert.StartsWith("# the reviews rules\napiVersion", document.Text, StringComparison.Ordinal);
        Assert.Equal((5, 9), (document.Line, document.Column)); // where metadata.name is, for errors about it
        var problem = Assert.Single(problems);
        Assert.Equal(("f.yaml", 11), (problem.File, problem.Line));
        Assert.Contains("kind and metadata.name", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SplitDocuments_ADocumentOnItsSeparatorLine_IsKept()
    {
        // The store saves what SplitDocuments returns; a document it dropped was validated but never saved.
        const string text = "kind: VirtualService\nmetadata: {name: a}\n--- {kind: VirtualService, metadata: {name: b}}\n--- !!map\nkind: VirtualService\nmetadata: {name: c}\n--- {kind: VirtualService, metadata: {name: d}}";

        var (documents, problems) = ConfigLoader.SplitDocuments("f.yaml", text);

        Assert.Empty(problems);
        Assert.Equal(["a", "b", "c", "d"], documents.Select(d => d.Name));
        Assert.Equal([2, 3, 6, 7], documents.Select(d => d.Line));
    }

    [Fact]
    public void SplitDocuments_ADocumentEndedWithoutASeparatorLine_IsAnError()
    {
        // "... # end" ends a YAML document, but is not a line of just '---' or '...': without the error the
        // next document would be saved inside the first one's file, and loaded again from its own.
        const string text = "kind: VirtualService\nmetadata: {name: a}\n... # end\nkind: VirtualService\nmetadata: {name: b}\n";

        var (documents, problems) = ConfigLoader.SplitDocuments("f.yaml", text);

        Assert.Empty(documents);
        var problem = Assert.Single(problems);
        Assert.Equal(("f.yaml", 4, 1), (problem.File, problem.Line, problem.Column));
        Assert.Contains("another document starts here", problem.Message, StringComparison.Ordinal);
    }
}
