using System.CommandLine;
using Mesh.Core.Hosting;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// How the control plane proves itself to etcd and checks etcd, with etcdctl's flag names: TLS
/// (<c>--etcd-cacert</c> to trust etcd's serving certificate, <c>--etcd-cert</c>/<c>--etcd-key</c> for
/// etcd's <c>--client-cert-auth</c>) and etcd's own users (<c>--etcd-user</c> with
/// <c>--etcd-password-file</c>; there is no password flag, so a password never shows in <c>ps</c>).
/// </summary>
internal sealed record EtcdClientSecurity
{
    public static readonly EtcdClientSecurity None = new();

    private static readonly Option<string?> CaCertFlag = Flags.Text("etcd-cacert", "file", "PEM CA that signed etcd's serving certificates (https:// endpoints); without it, the system's trusted roots");
    private static readonly Option<string?> CertFlag = Flags.Text("etcd-cert", "file", "PEM client certificate for etcd's --client-cert-auth (with --etcd-key)");
    private static readonly Option<string?> KeyFlag = Flags.Text("etcd-key", "file", "PEM private key of --etcd-cert");
    private static readonly Option<string?> UserFlag = Flags.Text("etcd-user", "name", "etcd user (etcd's auth enabled; with --etcd-password-file); needs readwrite on the prefix /mesh/");
    private static readonly Option<string?> PasswordFileFlag = Flags.Text("etcd-password-file", "file", "file holding --etcd-user's password (one line)");

    /// <summary>Every flag, for the command.</summary>
    public static readonly IReadOnlyList<Option> All = [CaCertFlag, CertFlag, KeyFlag, UserFlag, PasswordFileFlag];

    public string? CaCertPath { get; init; }
    public string? CertPath { get; init; }
    public string? KeyPath { get; init; }
    public string? User { get; init; }
    public string? PasswordFile { get; init; }

    public bool Authenticates => User is not null;

    /// <summary>
    /// Reads and checks the flags against the endpoints and the store: every mistake at once, each naming
    /// its flag and value.
    /// </summary>
    public static EtcdClientSecurity Parse(ParseResult p, bool etcdStore, IReadOnlyList<Uri> endpoints)
    {
        var security = new EtcdClientSecurity
        {
            CaCertPath = p.GetValue(CaCertFlag),
            CertPath = p.GetValue(CertFlag),
            KeyPath = p.GetValue(KeyFlag),
            User = p.GetValue(UserFlag),
            PasswordFile = p.GetValue(PasswordFileFlag),
        };
        var errors = new List<string>();
        var given = All.Where(p.Given).Select(f => f.Name).ToList();
        if (!etcdStore)
        {
            if (given.Count > 0)
            {
                errors.Add($"{string.Join(", ", given)}: go with --store etcd");
            }
            return errors.Count > 0 ? throw new UsageException(string.Join("; ", errors)) : None;
        }
        foreach (var (flag, path) in new[] { ("--etcd-cacert", security.CaCertPath), ("--etcd-cert", security.CertPath), ("--etcd-key", security.KeyPath), ("--etcd-password-file", security.PasswordFile) })
        {
            if (path is not null && !File.Exists(path))
            {
                errors.Add($"{flag}: no such file '{path}'");
            }
        }
        if ((security.CertPath is null) != (security.KeyPath is null))
        {
            errors.Add(security.CertPath is null ? $"--etcd-key '{security.KeyPath}' needs --etcd-cert" : $"--etcd-cert '{security.CertPath}' needs --etcd-key");
        }
        if (security.User is { } user && (user.Length == 0 || user.Contains(':', StringComparison.Ordinal)))
        {
            errors.Add($"--etcd-user expects a user name (the password goes in --etcd-password-file, never on the command line), got '{user}'");
        }
        if ((security.User is null) != (security.PasswordFile is null))
        {
            errors.Add(security.User is null ? $"--etcd-password-file '{security.PasswordFile}' needs --etcd-user" : $"--etcd-user '{security.User}' needs --etcd-password-file");
        }
        if (security.PasswordFile is { } file && File.Exists(file) && File.ReadAllText(file).Trim().Length == 0)
        {
            errors.Add($"--etcd-password-file: '{file}' is empty");
        }
        var plain = endpoints.Where(e => e.Scheme == Uri.UriSchemeHttp).ToList();
        if (plain.Count > 0 && plain.Count < endpoints.Count)
        {
            errors.Add($"--etcd-endpoints: all http:// or all https://, got {string.Join(",", endpoints)}");
        }
        else if (plain.Count > 0 && (security.CaCertPath ?? security.CertPath) is not null)
        {
            var flag = security.CaCertPath is not null ? "--etcd-cacert" : "--etcd-cert";
            errors.Add($"{flag} needs https:// endpoints (TLS), got --etcd-endpoints {string.Join(",", endpoints)}");
        }
        return errors.Count > 0 ? throw new UsageException(string.Join("; ", errors)) : security;
    }

    /// <summary>The password, read when connecting (not kept in the options), without its line end.</summary>
    public string ReadPassword() => File.ReadAllText(PasswordFile!).TrimEnd('\r', '\n');
}
