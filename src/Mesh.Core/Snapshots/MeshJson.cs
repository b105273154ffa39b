using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Mesh.Core.Config.Loading;
using Mesh.Core.Config.Model;
using Mesh.Core.Registry;
using Mesh.Core.Resilience;

namespace Mesh.Core.Snapshots;

/// <summary>
/// The one JSON shape used on the wire and on disk by control plane, sidecars and meshctl. The types
/// the sidecar exchanges have source-generated metadata (<see cref="MeshJsonContext"/>), so the
/// sidecar runs as a native (ahead-of-time compiled) binary; the control plane and meshctl also
/// serialize other types through reflection.
/// </summary>
public static class MeshJson
{
    /// <summary>Every enum of the model, as SNAKE_CASE_UPPER names (the Istio spelling: ROUND_ROBIN, ISTIO_MUTUAL); declared before Options, which uses it.</summary>
    internal static readonly JsonConverter[] EnumConverters =
    [
        new JsonStringEnumConverter<HealthStatus>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<RegistrationSource>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<AttemptFailure>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<ConfigSeverity>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<MutualTlsMode>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<AuthorizationAction>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<SimpleLoadBalancer>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<TlsMode>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<H2UpgradePolicy>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<ServiceEntryLocation>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<ServiceEntryResolution>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<ServerTlsMode>(JsonNamingPolicy.SnakeCaseUpper),
        new JsonStringEnumConverter<OutboundTrafficMode>(JsonNamingPolicy.SnakeCaseUpper),
    ];

    public static readonly JsonSerializerOptions Options = Create(indented: false);
    public static readonly JsonSerializerOptions Indented = Create(indented: true);

    /// <summary>Options with <paramref name="resolver"/>'s types first (a component's own context), then the mesh's.</summary>
    public static JsonSerializerOptions With(JsonSerializerOptions options, IJsonTypeInfoResolver resolver)
    {
        var combined = new JsonSerializerOptions(options) { TypeInfoResolver = JsonTypeInfoResolver.Combine(resolver, options.TypeInfoResolver) };
        combined.MakeReadOnly();
        return combined;
    }

    /// <summary>Metadata for <typeparamref name="T"/> (source-generated where it exists): serializing with it needs no reflection.</summary>
    public static JsonTypeInfo<T> Info<T>(this JsonSerializerOptions options) => (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));

    private static JsonSerializerOptions Create(bool indented)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            WriteIndented = indented,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            // Messages quote values ('v9'); JSON served to operators and tools, never embedded in HTML.
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            TypeInfoResolver = Resolver(),
        };
        foreach (var converter in EnumConverters)
        {
            options.Converters.Add(converter);
        }
        options.MakeReadOnly();
        return options;
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Reflection is added only where the runtime allows it; a native sidecar uses the generated metadata alone.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Reflection is added only where the runtime allows it; a native sidecar uses the generated metadata alone.")]
    private static IJsonTypeInfoResolver Resolver() =>
        JsonSerializer.IsReflectionEnabledByDefault
            ? JsonTypeInfoResolver.Combine(MeshJsonContext.Default, new DefaultJsonTypeInfoResolver())
            : MeshJsonContext.Default;
}

/// <summary>Generated serializers for what sidecars and the control plane exchange.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MeshSnapshot))]
[JsonSerializable(typeof(SnapshotDelta))]
[JsonSerializable(typeof(Registration))]
[JsonSerializable(typeof(LeaseGrant))]
[JsonSerializable(typeof(Heartbeat))]
[JsonSerializable(typeof(TrafficPolicy))]
public sealed partial class MeshJsonContext : JsonSerializerContext;
