using System.Collections;
using System.Globalization;
using System.Reflection;
using Mesh.Core.Config.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Mesh.Core.Config.Loading;

/// <summary>
/// Binds a YAML node tree onto the config records, strictly: an unknown field, a wrong type or an
/// Istio field Mesh does not implement is an error at its line and column. It never stops at the
/// first error, so a user can fix a whole file in one pass. It records the position of every path
/// so later semantic checks can point at the right line too.
/// </summary>
internal sealed class YamlBinder(string file, List<ConfigError> errors)
{
    private static readonly Dictionary<Type, BindableType> Types = new();
    private readonly Dictionary<string, (int, int)> _positions = new();

    public SourcePositions Positions => new(_positions);

    public T? Bind<T>(YamlNode node, string path) => (T?)Bind(node, typeof(T), path);

    public object? Bind(YamlNode node, Type type, string path)
    {
        _positions[path] = Position(node.Start);
        var underlying = Nullable.GetUnderlyingType(type);
        if (IsNull(node))
        {
            return underlying is not null || !type.IsValueType ? null : Activator.CreateInstance(type);
        }
        type = underlying ?? type;

        if (type == typeof(string) || type == typeof(int) || type == typeof(long) || type == typeof(double)
            || type == typeof(bool) || type == typeof(TimeSpan) || type.IsEnum)
        {
            return BindScalar(node, type, path);
        }
        if (type.IsGenericType && IsDictionary(type))
        {
            return BindDictionary(node, type.GetGenericArguments()[1], path);
        }
        if (type.IsGenericType && IsList(type))
        {
            return BindList(node, type.GetGenericArguments()[0], path);
        }
        return BindObject(node, type, path);
    }

    public void Error(YamlNode node, string path, string message) =>
        errors.Add(new ConfigError(file, (int)node.Start.Line, (int)node.Start.Column, path, message));

    private object? BindScalar(YamlNode node, Type type, string path)
    {
        if (node is not YamlScalarNode scalar)
        {
            Error(node, path, $"expected {Describe(type)}, got a {NodeKind(node)}");
            return null;
        }
        var text = scalar.Value ?? "";
        var quoted = scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted;
        if (type == typeof(string))
        {
            return text;
        }
        object? value = type switch
        {
            _ when type == typeof(int) && !quoted && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) => i,
            _ when type == typeof(long) && !quoted && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => l,
            _ when type == typeof(double) && !quoted && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => d,
            _ when type == typeof(bool) && !quoted && bool.TryParse(text, out var b) => b,
            _ when type == typeof(TimeSpan) && Durations.TryParse(text, out var t) => t,
            _ when type.IsEnum => ParseEnum(type, text),
            _ => null,
        };
        if (value is null)
        {
            var expected = type.IsEnum ? "one of " + string.Join(", ", EnumNames(type)) : Describe(type);
            Error(node, path, $"expected {expected}, got '{text}'");
        }
        return value;
    }

    private IList BindList(YamlNode node, Type itemType, string path)
    {
        var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(itemType))!;
        if (node is not YamlSequenceNode sequence)
        {
            Error(node, path, $"expected a list, got a {NodeKind(node)}");
            return list;
        }
        var index = 0;
        foreach (var child in sequence.Children)
        {
            var item = Bind(child, itemType, $"{path}[{index++}]");
            if (item is not null)
            {
                list.Add(item);
            }
        }
        return list;
    }

    private IDictionary BindDictionary(YamlNode node, Type valueType, string path)
    {
        var dictionary = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(typeof(string), valueType))!;
        if (node is not YamlMappingNode mapping)
        {
            Error(node, path, $"expected a map, got a {NodeKind(node)}");
            return dictionary;
        }
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                Error(keyNode, path, $"a map key must be a string, got a {NodeKind(keyNode)}");
                continue;
            }
            var value = Bind(valueNode, valueType, $"{path}.{key}");
            if (value is not null)
            {
                dictionary[key] = value;
            }
        }
        return dictionary;
    }

    private object? BindObject(YamlNode node, Type type, string path)
    {
        if (node is not YamlMappingNode mapping)
        {
            Error(node, path, $"expected a map ({type.Name}), got a {NodeKind(node)}");
            return null;
        }
        var bindable = BindableType.Of(type);
        var instance = Activator.CreateInstance(type)!;
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            var childPath = path.Length == 0 ? key : $"{path}.{key}";
            if (bindable.Properties.TryGetValue(key, out var property))
            {
                var value = Bind(valueNode, property.PropertyType, childPath);
                if (value is not null)
                {
                    property.SetValue(instance, value);
                }
            }
            else if (type.GetCustomAttributes<NotImplementedFieldAttribute>().FirstOrDefault(a => a.Field == key) is { } notImplemented)
            {
                Error(keyNode, childPath, $"'{key}' is not implemented by Mesh: {notImplemented.Reason}");
            }
            else if (bindable.Unsupported.Contains(key))
            {
                Error(keyNode, childPath, $"'{key}' is an Istio field that Mesh does not implement; remove it (Mesh would not honour it)");
            }
            else
            {
                var known = string.Join(", ", bindable.Properties.Keys.Order(StringComparer.Ordinal));
                Error(keyNode, childPath, $"unknown field '{key}'; known fields here: {known}");
            }
        }
        return instance;
    }

    private static object? ParseEnum(Type type, string text)
    {
        foreach (var name in Enum.GetNames(type))
        {
            if (text == ToUpperSnake(name))
            {
                return Enum.Parse(type, name);
            }
        }
        return null;
    }

    private static IEnumerable<string> EnumNames(Type type) => Enum.GetNames(type).Select(ToUpperSnake);

    internal static string ToUpperSnake(string pascal) =>
        string.Concat(pascal.Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : char.ToUpperInvariant(c).ToString()));

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" };

    private static bool IsList(Type type)
    {
        var def = type.GetGenericTypeDefinition();
        return def == typeof(IReadOnlyList<>) || def == typeof(List<>) || def == typeof(IList<>) || def == typeof(IEnumerable<>);
    }

    private static bool IsDictionary(Type type)
    {
        var def = type.GetGenericTypeDefinition();
        return def == typeof(IReadOnlyDictionary<,>) || def == typeof(Dictionary<,>) || def == typeof(IDictionary<,>);
    }

    private static string NodeKind(YamlNode node) => node switch
    {
        YamlMappingNode => "map",
        YamlSequenceNode => "list",
        _ => "scalar",
    };

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(int) || type == typeof(long) => "an integer",
        _ when type == typeof(double) => "a finite number",
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(TimeSpan) => "a duration like 10s, 500ms or 1m",
        _ => "a string",
    };

    private static (int, int) Position(Mark mark) => ((int)mark.Line, (int)mark.Column);

    /// <summary>Settable properties by their YAML (camelCase) name, computed once per type.</summary>
    private sealed record BindableType(IReadOnlyDictionary<string, PropertyInfo> Properties, IReadOnlySet<string> Unsupported)
    {
        public static BindableType Of(Type type)
        {
            lock (Types)
            {
                if (!Types.TryGetValue(type, out var bindable))
                {
                    var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                        .Where(p => p.CanWrite)
                        .ToDictionary(p => char.ToLowerInvariant(p.Name[0]) + p.Name[1..], StringComparer.Ordinal);
                    var unsupported = type.GetCustomAttribute<UnsupportedFieldsAttribute>()?.Fields.ToHashSet() ?? [];
                    bindable = new BindableType(properties, unsupported);
                    Types[type] = bindable;
                }
                return bindable;
            }
        }
    }
}
