namespace Mesh.Core.Hosting;

/// <summary>A command-line flag: its name (without "--"), the value it takes (null for a switch) and help.</summary>
public sealed record FlagSpec(string Name, string? Value, string Help, bool Repeatable = false);
