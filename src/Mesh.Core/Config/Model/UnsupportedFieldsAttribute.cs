namespace Mesh.Core.Config.Model;

/// <summary>
/// Istio fields that are valid in Istio but that Mesh does not implement. The binder rejects them with
/// a message saying so, because accepting and ignoring them would route differently from Istio.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class UnsupportedFieldsAttribute(params string[] fields) : Attribute
{
    public IReadOnlyList<string> Fields { get; } = fields;
}
