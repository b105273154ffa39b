namespace Mesh.Core.Config.Model;

/// <summary>
/// An Istio field Mesh does not implement, with why and what to write instead: the binder rejects it with
/// this reason rather than the generic one of <see cref="UnsupportedFieldsAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class NotImplementedFieldAttribute(string field, string reason) : Attribute
{
    public string Field { get; } = field;
    public string Reason { get; } = reason;
}
