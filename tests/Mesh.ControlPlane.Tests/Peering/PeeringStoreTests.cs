using Mesh.ControlPlane.Peering;

namespace Mesh.ControlPlane.Tests.Peering;

public sealed class PeeringStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mesh-peerings-").FullName;

    private PeeringStore NewStore() => new(new FilePeeringRecords(_dir));

    private static Mesh.ControlPlane.Peering.Peering Pending(string name, string secret) =>
        new() { Name = name, Role = Mesh.ControlPlane.Peering.Peering.Acceptor, State = Mesh.ControlPlane.Peering.Peering.Pending, Secret = secret };

    [Fact]
    public void Authenticate_OnlyTheRightSecretForThatPeering()
    {
        var store = NewStore();
        store.Put(Pending("east", "secret-east"));
        store.Put(Pending("south", "secret-south"));

        Assert.Equal("east", store.Authenticate("east", "secret-east")?.Name);
        Assert.Null(store.Authenticate("east", "secret-south"));
        Assert.Null(store.Authenticate("north", "secret-east"));
        Assert.Null(store.Authenticate("east", null));
    }

    [Fact]
    public void Put_IsKeptAcrossRestarts_InAFileOnlyTheOwnerReads()
    {
        var changes = 0;
        var store = NewStore();
        store.Changed += () => changes++;
        store.Put(Pending("east", "s1"));
        store.Put(Pending("west", "s2"));
        Assert.True(store.Remove("west"));
        Assert.False(store.Remove("west"));

        var again = NewStore();
        Assert.Equal(["east"], again.List().Select(p => p.Name));
        Assert.Equal(3, changes);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "peerings.json")));
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
