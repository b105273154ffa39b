using Mesh.Core.Config.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Mesh.Core.Config.Loading;

/// <summary>The outcome of loading config: the set when there were no errors, and every problem found.</summary>
public sealed record ConfigLoadResult(ConfigSet? Config, IReadOnlyList<ConfigError> Problems)
{
    public bool Succeeded => Config is not null;
    public IEnumerable<ConfigError> Errors => Problems.Where(p => p.Severity == ConfigSeverity.Error);
}

/// <summary>A config file and the layer it belongs to (0: the config dir; higher layers replace lower ones).</summary>
public sealed record ConfigFile(string Name, string Text, int Layer = 0);

/// <summary>One resource's document out of a multi-document file; <paramref name="Line"/> and <paramref name="Column"/>
/// are where its metadata.name is in that file.</summary>
public sealed record ConfigDocument(string Kind, string Namespace, string Name, string Text, int Line = 1, int Column = 1)
{
    public override string ToString() => $"{Kind} {Namespace}/{Name}";
}

/// <summary>Reads multi-document Istio YAML into a <see cref="ConfigSet"/> and validates it as a whole.</summary>
public static class ConfigLoader
{
    private static readonly string[] NetworkingVersions = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];
    private static readonly string[] SecurityVersions = ["security.istio.io/v1", "security.istio.io/v1beta1"];

    /// <summary>Mesh's own kinds, which Istio has no equivalent of, live in Mesh's own API group.</summary>
    public static readonly string[] PeeringVersions = ["peering.mesh.dev/v1alpha1"];

    /// <param name="registeredHosts">Canonical hosts the registry knows, so a host that resolves nowhere is
    /// reported; null when the registry is not known (offline validation).</param>
    public static ConfigLoadResult LoadDirectory(string directory, IReadOnlySet<string>? registeredHosts = null) =>
        Load(ReadDirectory(directory), registeredHosts);

    /// <summary>
    /// Validates a proposed change as it would apply: the candidate file replaces the directory's file of
    /// the same name, and each candidate resource replaces the resource of the same kind, namespace and
    /// name wherever the directory defines it.
    /// </summary>
    public static ConfigLoadResult LoadChange(string directory, string candidateName, string candidateText, IReadOnlySet<string>? registeredHosts = null)
    {
        var files = ReadDirectory(directory).Where(f => f.Name != candidateName).Select(f => new ConfigFile(f.Name, f.Text))
            .Append(new ConfigFile(candidateName, candidateText, Layer: 1));
        return LoadLayers(files, registeredHosts);
    }

    /// <summary>Loads several files at once; names are only used in messages.</summary>
    public static ConfigLoadResult Load(IEnumerable<(string Name, string Text)> files, IReadOnlySet<string>? registeredHosts = null) =>
        LoadLayers(files.Select(f => new ConfigFile(f.Name, f.Text)), registeredHosts);

    /// <summary>
    /// Loads files in layers: a resource in a higher layer replaces the resources of the same kind,
    /// namespace and name in lower layers (as <c>kubectl apply</c> replaces what was there); two of
    /// them in one layer are a duplicate.
    /// </summary>
    public static ConfigLoadResult LoadLayers(IEnumerable<ConfigFile> files, IReadOnlySet<string>? registeredHosts = null)
    {
        var problems = new List<ConfigError>();
        var builder = new ConfigSetBuilder();
        foreach (var file in files)
        {
            LoadFile(file.Name, file.Text, builder, problems);
            // By resource, not by file name: a file posted under the name of a config dir file
            // (meshctl apply -f bookshop.yaml) is still a layer above it.
            builder.EndFile(file.Layer);
        }
        builder.DropShadowed();
        var config = builder.Build();
        problems.AddRange(ConfigValidator.Validate(config, registeredHosts));
        var failed = problems.Any(p => p.Severity == ConfigSeverity.Error);
        return new ConfigLoadResult(failed ? null : config, problems);
    }

    /// <summary>The YAML files under a directory (recursively), by relative name, in a stable order.</summary>
    public static IReadOnlyList<(string Name, string Text)> ReadDirectory(string directory)
    {
        var files = Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, "*.*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal)
            : Enumerable.Empty<string>();
        return files.Select(f => (Path.GetRelativePath(directory, f), File.ReadAllText(f))).ToArray();
    }

    /// <summary>
    /// Splits a multi-document file into its resources, each with its kind, namespace, name and its own
    /// text, so each can be stored and replaced on its own. Problems are syntax errors and documents
    /// without kind or name; nothing is validated beyond that here.
    /// </summary>
    public static (IReadOnlyList<ConfigDocument> Documents, IReadOnlyList<ConfigError> Problems) SplitDocuments(string fileName, string text)
    {
        var problems = new List<ConfigError>();
        var documents = new List<ConfigDocument>();
        // Documents are cut at the '---' lines so each keeps its own text, comments included.
        // Lines end where YAML says they do (\r\n, \r, \n, NEL, LS, PS), so that the parser's line numbers
        // in a chunk plus the chunk's first line are lines of the file.
        var lines = YamlLineStarts(text);
        var first = 0;
        // One step past the last line, to cut the last document, also when the last line is a "--- {...}" that starts it.
        for (var i = 0; i <= lines.Count; i++)
        {
            var end = i == lines.Count;
            var lineText = end ? "" : i + 1 < lines.Count ? text[lines[i]..lines[i + 1]].TrimEnd('\r', '\n', '\u0085', '\u2028', '\u2029') : text[lines[i]..];
            if (!end && !IsDocumentSeparator(lineText))
            {
                continue;
            }
            var chunk = end ? text[(first < lines.Count ? lines[first] : text.Length)..] : text[lines[first]..lines[i]];
            var lineOffset = first;
            // "--- {kind: ...}" and "--- !!map" start the next document on the separator line itself,
            // so that line belongs to it; only a bare '---' (or '...') is left out.
            first = SeparatorContent(lineText) ? i : i + 1;
            var stream = new YamlStream();
            try
            {
                if (YamlLimits.Check(fileName, chunk) is { } refused)
                {
                    problems.Add(refused with { Line = refused.Line + lineOffset });
                    continue;
                }
                stream.Load(new StringReader(chunk));
            }
            catch (Exception e) when (e is YamlException or ArgumentException or InvalidOperationException)
            {
                var (line, column) = e is YamlException y ? ((int)y.Start.Line, (int)y.Start.Column) : LastGoodPosition(chunk);
                problems.Add(new ConfigError(fileName, line + lineOffset, column, "", "YAML syntax error: " + (e is YamlException ye ? Reason(ye) : e.Message)));
                continue;
            }
            var roots = stream.Documents.Select(d => d.RootNode).Where(r => r is not YamlScalarNode { Value: null or "" }).ToArray();
            if (roots.Length == 0)
            {
                continue; // only comments or blank lines
            }
            if (roots.Length > 1)
            {
                // YAML ended a document where the cut above did not ("... # end", a directive): each
                // document is stored on its own, so one stored as part of another would be loaded twice.
                problems.Add(new ConfigError(fileName, (int)roots[1].Start.Line + lineOffset, (int)roots[1].Start.Column, "",
                    "another document starts here; put a line of just '---' between documents"));
                continue;
            }
            var root = roots[0];
            var metadata = Child(root as YamlMappingNode, "metadata") as YamlMappingNode;
            var (kind, name) = (Scalar(root as YamlMappingNode, "kind"), Scalar(metadata, "name"));
            if (kind is null || name is null)
            {
                problems.Add(new ConfigError(fileName, (int)root.Start.Line + lineOffset, (int)root.Start.Column, "", "every document needs kind and metadata.name"));
                continue;
            }
            var nameNode = Child(metadata, "name")!;
            documents.Add(new ConfigDocument(kind, Scalar(metadata, "namespace") ?? "default", name, chunk.Trim('\n') + "\n",
                (int)nameNode.Start.Line + lineOffset, (int)nameNode.Start.Column));
        }
        return (documents, problems);

        static YamlNode? Child(YamlMappingNode? map, string key) =>
            map is not null && map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;
        static string? Scalar(YamlMappingNode? map, string key) => (Child(map, key) as YamlScalarNode)?.Value;
    }

    /// <summary>Where each line starts; a text of n line breaks has n + 1 lines.</summary>
    private static List<int> YamlLineStarts(string text)
    {
        var starts = new List<int> { 0 };
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\n' or '\u0085' or '\u2028' or '\u2029' || (c == '\r' && (i + 1 == text.Length || text[i + 1] != '\n')))
            {
                starts.Add(i + 1);
            }
        }
        return starts;
    }

    private static bool SeparatorContent(string line) =>
        line.StartsWith("---", StringComparison.Ordinal) && line[3..].Trim() is { Length: > 0 } rest && !rest.StartsWith('#');

    private static bool IsDocumentSeparator(string line) =>
        (line.StartsWith("---", StringComparison.Ordinal) && (line.Length == 3 || char.IsWhiteSpace(line[3])))
        || line.TrimEnd() == "...";

    private static void LoadFile(string name, string text, ConfigSetBuilder builder, List<ConfigError> problems)
    {
        var stream = new YamlStream();
        try
        {
            // Checked on the event stream first: building the node tree recurses and expands aliases.
            if (YamlLimits.Check(name, text) is { } refused)
            {
                problems.Add(refused);
                return;
            }
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            problems.Add(new ConfigError(name, (int)e.Start.Line, (int)e.Start.Column, "", "YAML syntax error: " + Reason(e)));
            return;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // YamlDotNet reports some errors (a key twice in one map, an unclosed flow map) without a
            // position; walk the events again to find where parsing stopped.
            var (line, column) = LastGoodPosition(text);
            var reason = e is ArgumentException ? e.Message : "malformed YAML (an unclosed '{' or '[', or a stray character?)";
            problems.Add(new ConfigError(name, line, column, "", $"YAML syntax error near here: {reason}"));
            return;
        }

        foreach (var document in stream.Documents)
        {
            if (document.RootNode is YamlScalarNode { Value: null or "" })
            {
                continue; // an empty document, e.g. after a trailing '---'
            }
            LoadDocument(name, document.RootNode, builder, problems);
        }
    }

    private static void LoadDocument(string file, YamlNode root, ConfigSetBuilder builder, List<ConfigError> problems)
    {
        var binder = new YamlBinder(file, problems);
        if (root is not YamlMappingNode mapping)
        {
            binder.Error(root, "", "a config document must be a map with apiVersion, kind, metadata and spec");
            return;
        }
        var envelope = ReadEnvelope(binder, mapping);
        var kindNode = envelope.KindNode ?? root;
        var metadata = envelope.Metadata ?? new ResourceMetadata();
        if (metadata.Name.Length == 0)
        {
            binder.Error(envelope.MetadataNode ?? root, "metadata.name", "every resource needs metadata.name");
        }
        var specNode = envelope.SpecNode;

        switch (envelope.Kind)
        {
            case "VirtualService":
                builder.VirtualServices.Add(Read<VirtualService>(binder, envelope, metadata, specNode, file, kindNode, NetworkingVersions)!);
                break;
            case "DestinationRule":
                builder.DestinationRules.Add(Read<DestinationRule>(binder, envelope, metadata, specNode, file, kindNode, NetworkingVersions)!);
                break;
            case "ServiceEntry":
                builder.ServiceEntries.Add(Read<ServiceEntry>(binder, envelope, metadata, specNode, file, kindNode, NetworkingVersions)!);
                break;
            case "Gateway":
                builder.Gateways.Add(Read<Gateway>(binder, envelope, metadata, specNode, file, kindNode, NetworkingVersions)!);
                break;
            case "PeerAuthentication":
                builder.PeerAuthentications.Add(Read<PeerAuthentication>(binder, envelope, metadata, specNode, file, kindNode, SecurityVersions)!);
                break;
            case "AuthorizationPolicy":
                builder.AuthorizationPolicies.Add(Read<AuthorizationPolicy>(binder, envelope, metadata, specNode, file, kindNode, SecurityVersions)!);
                break;
            case "Sidecar":
                builder.Sidecars.Add(Read<IstioSidecar>(binder, envelope, metadata, specNode, file, kindNode, NetworkingVersions)!);
                break;
            case "ExportedServices":
                builder.ExportedServices.Add(Read<ExportedServices>(binder, envelope, metadata, specNode, file, kindNode, PeeringVersions)!);
                break;
            default:
                binder.Error(kindNode, "kind", $"unknown kind '{envelope.Kind}'; Mesh reads VirtualService, DestinationRule, ServiceEntry, Gateway, Sidecar, PeerAuthentication, AuthorizationPolicy, ExportedServices");
                break;
        }
    }

    private static Resource<T>? Read<T>(YamlBinder binder, Envelope envelope, ResourceMetadata metadata, YamlNode? specNode, string file, YamlNode kindNode, string[] versions)
        where T : class, new()
    {
        if (!versions.Contains(envelope.ApiVersion))
        {
            binder.Error(kindNode, "apiVersion", $"apiVersion '{envelope.ApiVersion}' is not valid for {envelope.Kind}; use one of {string.Join(", ", versions)}");
        }
        var spec = specNode is null ? new T() : binder.Bind<T>(specNode, "spec") ?? new T();
        return new Resource<T> { ApiVersion = envelope.ApiVersion, Metadata = metadata, Spec = spec, Source = file, Positions = binder.Positions };
    }

    private static (int Line, int Column) LastGoodPosition(string text)
    {
        var parser = new Parser(new StringReader(text));
        var last = Mark.Empty;
        try
        {
            while (parser.MoveNext())
            {
                last = parser.Current!.End;
            }
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException or ArgumentException)
        {
            if (e is YamlException y)
            {
                return ((int)y.Start.Line, (int)y.Start.Column);
            }
        }
        return ((int)Math.Max(1, last.Line), (int)Math.Max(1, last.Column));
    }

    private static string Reason(YamlException e)
    {
        // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: ...) - (...): "; the position is already ours.
        var message = e.Message;
        var cut = message.LastIndexOf("): ", StringComparison.Ordinal);
        return cut >= 0 ? message[(cut + 3)..] : message;
    }

    private static Envelope ReadEnvelope(YamlBinder binder, YamlMappingNode mapping)
    {
        var envelope = new Envelope();
        foreach (var (keyNode, value) in mapping.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            switch (key)
            {
                case "apiVersion":
                    envelope.ApiVersion = binder.Bind<string>(value, key) ?? "";
                    break;
                case "kind":
                    envelope.Kind = binder.Bind<string>(value, key) ?? "";
                    envelope.KindNode = value;
                    break;
                case "metadata":
                    envelope.Metadata = binder.Bind<ResourceMetadata>(value, key);
                    envelope.MetadataNode = value;
                    break;
                case "spec":
                    envelope.SpecNode = value;
                    break;
                case "status":
                    break; // written by Kubernetes controllers, never by users; harmless to carry
                default:
                    binder.Error(keyNode, key, $"unknown top-level field '{key}'; expected apiVersion, kind, metadata, spec");
                    break;
            }
        }
        return envelope;
    }

    /// <summary>The outer shape every document shares; spec is bound separately by kind.</summary>
    private sealed class Envelope
    {
        public string ApiVersion { get; set; } = "";
        public string Kind { get; set; } = "";
        public ResourceMetadata? Metadata { get; set; }
        public YamlNode? KindNode { get; set; }
        public YamlNode? MetadataNode { get; set; }
        public YamlNode? SpecNode { get; set; }
    }
}
