namespace Mesh.Core.Hosting;

public static class AtomicFile
{
    /// <summary>Writes to a temporary file and renames it over the target, so a crash never leaves half a file.</summary>
    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
