namespace Mesh.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The tests that run the whole demo (a control plane, six apps, their sidecars and a gateway each) run
/// one after another: two demos starting at once picked the same free port for different processes.
/// </summary>
[CollectionDefinition(Name)]
public sealed class DemoCollection
{
    public const string Name = "demo";
}
