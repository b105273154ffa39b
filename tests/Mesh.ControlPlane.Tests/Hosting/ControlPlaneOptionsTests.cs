using Mesh.ControlPlane.Hosting;
using Mesh.Core.Hosting;

namespace Mesh.ControlPlane.Tests.Hosting;

public sealed class ControlPlaneOptionsTests
{
    [Fact]
    public void Parse_Defaults_DetectDeadInstanceWithinTenSeconds()
    {
        var options = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x"]);

        Assert.Equal((15012, 15014), (options.Port, options.AdminPort));
        Assert.True(options.Registry.LeaseTtl + TimeSpan.FromMilliseconds(250) < TimeSpan.FromSeconds(10));
        Assert.True(options.Registry.HeartbeatInterval * 3 <= options.Registry.LeaseTtl, "a lease survives two lost heartbeats");
    }

    [Theory]
    [InlineData(null, 100)]
    [InlineData("1", 1)]
    [InlineData("5000", 5000)]
    public void Parse_ConfigHistory_KeepsThatManyVersions_AHundredByDefault(string? flag, int kept)
    {
        string[] args = ["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", .. flag is null ? Array.Empty<string>() : ["--config-history", flag]];
        Assert.Equal(kept, ControlPlaneOptions.Parse(args).ConfigHistory);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("100001")]
    [InlineData("lots")]
    public void Parse_ConfigHistoryOutOfRange_IsRejectedNamingTheFlag(string value)
    {
        var e = Assert.Throws<UsageException>(() => ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--config-history", value]));
        Assert.Equal($"--config-history expects a whole number 1-100000, got '{value}'", e.Message);
    }

    [Fact]
    public void Parse_HeartbeatNotShorterThanTtl_IsRejected()
    {
        var e = Assert.Throws<UsageException>(() => ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--lease-ttl", "2s", "--heartbeat-interval", "2s"]));

        Assert.StartsWith("--heartbeat-interval must be shorter than --lease-ttl", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RateLimitDefaults_AreGenerousAndExemptLoopbackFromPerAddressLimits()
    {
        var limits = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x"]).RateLimits;

        Assert.Equal((20, 100, 10_000, 1_000), (limits.CsrsPerSecond, limits.RegistrationsPerSecond, limits.MaxWatchesPerIdentity, limits.MaxWatchesPerAddress));
        Assert.True(limits.IsExempt(System.Net.IPAddress.Parse("127.0.0.1")) && limits.IsExempt(System.Net.IPAddress.Parse("127.3.2.1")) && limits.IsExempt(System.Net.IPAddress.IPv6Loopback));
        Assert.False(limits.IsExempt(System.Net.IPAddress.Parse("10.0.0.1")));
    }

    [Fact]
    public void Parse_RateLimitFlags_SetEachLimitAndTheExemptAddresses()
    {
        var limits = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--csr-rate", "5", "--register-rate", "0",
            "--max-watches-per-identity", "3", "--max-watches-per-address", "2", "--rate-limit-exempt", "10.0.0.0/8, 192.168.1.5,loopback"]).RateLimits;

        Assert.Equal((5, 0, 3, 2), (limits.CsrsPerSecond, limits.RegistrationsPerSecond, limits.MaxWatchesPerIdentity, limits.MaxWatchesPerAddress));
        Assert.True(limits.IsExempt(System.Net.IPAddress.Parse("10.200.0.1")) && limits.IsExempt(System.Net.IPAddress.Parse("192.168.1.5")) && limits.IsExempt(System.Net.IPAddress.Loopback));
        Assert.False(limits.IsExempt(System.Net.IPAddress.Parse("192.168.1.6")));
    }

    [Fact]
    public void Parse_RateLimitExemptNone_LimitsLoopbackToo()
    {
        var limits = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--rate-limit-exempt", "none"]).RateLimits;

        Assert.Empty(limits.Exempt);
        Assert.False(limits.IsExempt(System.Net.IPAddress.Loopback));
    }

    [Theory]
    [InlineData("--csr-rate", "-1", "--csr-rate expects a whole number 0-1000000, got '-1'")]
    [InlineData("--register-rate", "lots", "--register-rate expects a whole number 0-1000000, got 'lots'")]
    [InlineData("--max-watches-per-address", "1.5", "--max-watches-per-address expects a whole number")]
    [InlineData("--rate-limit-exempt", "10.0.0.1/8", "--rate-limit-exempt expects addresses or CIDRs (10.0.0.0/8), 'loopback' or 'none', got '10.0.0.1/8'")]
    [InlineData("--rate-limit-exempt", "localhost", "got 'localhost'")]
    [InlineData("--rate-limit-exempt", ",", "--rate-limit-exempt expects addresses or CIDRs")]
    public void Parse_BadRateLimitFlag_IsRejectedNamingIt(string flag, string value, string message)
    {
        var e = Assert.Throws<UsageException>(() => ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", flag, value]));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NoStoreFlag_KeepsTheFileStore()
    {
        var options = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x"]);

        Assert.Equal(RegistryStoreKind.File, options.Store);
        Assert.Empty(options.EtcdEndpoints);
    }

    [Fact]
    public void Parse_StoreEtcd_TakesEveryEndpoint()
    {
        var options = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--store", "etcd",
            "--etcd-endpoints", "http://10.0.0.1:2379, http://10.0.0.2:2379,http://10.0.0.3:2379"]);

        Assert.Equal(RegistryStoreKind.Etcd, options.Store);
        Assert.Equal(["http://10.0.0.1:2379/", "http://10.0.0.2:2379/", "http://10.0.0.3:2379/"], options.EtcdEndpoints.Select(e => e.ToString()));
    }

    [Theory]
    [InlineData("--store etcd", "--store etcd needs --etcd-endpoints")]
    [InlineData("--store consul", "--store expects file or etcd, got 'consul'")]
    [InlineData("--etcd-endpoints http://127.0.0.1:2379", "--etcd-endpoints goes with --store etcd")]
    [InlineData("--store etcd --etcd-endpoints 127.0.0.1:2379", "--etcd-endpoints expects comma-separated URLs like http://127.0.0.1:2379, got '127.0.0.1:2379'")]
    [InlineData("--store etcd --etcd-endpoints http://127.0.0.1:2379 --etcd-user mesh", "--etcd-user 'mesh' needs --etcd-password-file")]
    [InlineData("--store etcd --etcd-endpoints http://127.0.0.1:2379 --etcd-user mesh:secret --etcd-password-file /etc/hostname", "--etcd-user expects a user name (the password goes in --etcd-password-file, never on the command line), got 'mesh:secret'")]
    [InlineData("--store etcd --etcd-endpoints http://127.0.0.1:2379 --etcd-cacert /etc/hostname", "--etcd-cacert needs https:// endpoints (TLS), got --etcd-endpoints http://127.0.0.1:2379/")]
    [InlineData("--store etcd --etcd-endpoints https://127.0.0.1:2379 --etcd-cacert /nonexistent/ca.crt", "--etcd-cacert: no such file '/nonexistent/ca.crt'")]
    [InlineData("--store etcd --etcd-endpoints https://127.0.0.1:2379 --etcd-cert /etc/hostname", "--etcd-cert '/etc/hostname' needs --etcd-key")]
    [InlineData("--store etcd --etcd-endpoints http://127.0.0.1:2379,https://127.0.0.1:2389", "--etcd-endpoints: all http:// or all https://")]
    [InlineData("--etcd-user mesh", "--etcd-user: go with --store etcd")]
    [InlineData("--ca-key-secret-file /etc/hostname", "--ca-key-secret-file goes with --store etcd")]
    [InlineData("--store etcd --etcd-endpoints http://127.0.0.1:2379 --ca-key-secret-file /nonexistent/secret", "--ca-key-secret-file expects an existing file holding at least 32 characters of secret")]
    public void Parse_BadStoreFlags_AreRejectedNamingTheFlag(string flags, string expected)
    {
        var e = Assert.Throws<UsageException>(() => ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", .. flags.Split(' ')]));

        Assert.StartsWith(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_PeeringAddress_IsAdvertised_ElseTheListenAddressAndPort()
    {
        var given = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--region", "eu-west-1", "--peering-address", "https://10.0.0.1:15012,https://cp.eu.example:15012"]);
        Assert.Equal("eu-west-1", given.Region);
        Assert.Equal([new Uri("https://10.0.0.1:15012"), new Uri("https://cp.eu.example:15012")], given.AdvertisedPeeringAddresses);

        var defaults = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--port", "16012"]);
        Assert.Null(defaults.Region);
        Assert.Equal([new Uri("https://127.0.0.1:16012")], defaults.AdvertisedPeeringAddresses);
    }

    [Theory]
    [InlineData("--peering-address", "http://10.0.0.1:15012", "--peering-address expects comma-separated https URLs like https://10.0.0.1:15012, got 'http://10.0.0.1:15012'")]
    [InlineData("--region", "EU_West", "--region expects a DNS label like eu-west-1, got 'EU_West'")]
    public void Parse_BadRegionFlags_AreRejectedNamingTheFlag(string flag, string value, string message)
    {
        var e = Assert.Throws<UsageException>(() => ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", flag, value]));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Parse_EtcdTlsAndUser_EveryMistakeAtOnce()
    {
        var e = Assert.Throws<UsageException>(() => ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--store", "etcd",
            "--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-cacert", "/nonexistent/ca.crt", "--etcd-key", "/nonexistent/k.pem", "--etcd-password-file", "/nonexistent/pw"]));

        Assert.Equal("--etcd-cacert: no such file '/nonexistent/ca.crt'; --etcd-key: no such file '/nonexistent/k.pem'; --etcd-password-file: no such file '/nonexistent/pw'; "
            + "--etcd-key '/nonexistent/k.pem' needs --etcd-cert; --etcd-password-file '/nonexistent/pw' needs --etcd-user", e.Message);
    }

    [Fact]
    public void Parse_EtcdTlsAndUser_AreKept()
    {
        var dir = Directory.CreateTempSubdirectory("mesh-opts-").FullName;
        try
        {
            foreach (var file in new[] { "ca.crt", "c.crt", "c.key" })
            {
                File.WriteAllText(Path.Combine(dir, file), "x");
            }
            File.WriteAllText(Path.Combine(dir, "pw"), "s3cret\n");
            var options = ControlPlaneOptions.Parse(["--config-dir", Path.GetTempPath(), "--data-dir", "/tmp/x", "--store", "etcd",
                "--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-cacert", Path.Combine(dir, "ca.crt"), "--etcd-cert", Path.Combine(dir, "c.crt"),
                "--etcd-key", Path.Combine(dir, "c.key"), "--etcd-user", "mesh", "--etcd-password-file", Path.Combine(dir, "pw")]);

            Assert.Equal((Path.Combine(dir, "ca.crt"), Path.Combine(dir, "c.crt"), Path.Combine(dir, "c.key"), "mesh"),
                (options.EtcdSecurity.CaCertPath, options.EtcdSecurity.CertPath, options.EtcdSecurity.KeyPath, options.EtcdSecurity.User));
            Assert.Equal("s3cret", options.EtcdSecurity.ReadPassword());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
