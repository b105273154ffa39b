namespace Mesh.Core.Config.Loading;

public enum ConfigSeverity
{
    Error,
    Warning,
}

/// <summary>A problem found in config, with where it is: file, line, column and field path.</summary>
public sealed record ConfigError(string File, int Line, int Column, string Path, string Message, ConfigSeverity Severity = ConfigSeverity.Error)
{
    public override string ToString()
    {
        var where = Path.Length == 0 ? "" : $" {Path}:";
        var level = Severity == ConfigSeverity.Warning ? " warning:" : "";
        return $"{File}:{Line}:{Column}:{level}{where} {Message}";
    }
}
