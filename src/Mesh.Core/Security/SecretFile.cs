namespace Mesh.Core.Security;

/// <summary>Files holding keys and tokens: readable by their owner only, replaced atomically.</summary>
public static class SecretFile
{
    /// <summary>Writes <paramref name="text"/> so that a crash leaves either the old file or the new one.</summary>
    public static void Write(string path, string text)
    {
        var temp = path + ".tmp";
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var stream = new FileStream(temp, fileOptions))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
