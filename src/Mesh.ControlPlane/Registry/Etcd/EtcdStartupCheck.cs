using Grpc.Core;
using Google.Protobuf;
using Mesh.ControlPlane.Hosting;

namespace Mesh.ControlPlane.Registry.Etcd;

/// <summary>
/// Before serving, one round through etcd with the flags given: authenticate (with <c>--etcd-user</c>) and
/// read one key under <c>/mesh/</c>. What the operator must fix (a wrong password, no permission on
/// <c>/mesh/</c>, a certificate etcd or we do not trust, auth on at etcd but no user given) ends the
/// start with one line naming etcd and the user; etcd merely not answering yet does not (the stores wait
/// for it, as they always have).
/// </summary>
internal static class EtcdStartupCheck
{
    /// <summary>Null when etcd answered as expected; otherwise why it could not be asked (the start goes on).</summary>
    public static async Task<string?> RunAsync(EtcdConnection etcd, EtcdClientSecurity security, CancellationToken cancellationToken)
    {
        var endpoints = string.Join(",", etcd.Endpoints);
        var who = etcd.User is { } user ? $"user '{user}'" : "no --etcd-user";
        var tls = EtcdTls.ClientOptions(security);
        foreach (var endpoint in etcd.Endpoints.Where(e => e.Scheme == Uri.UriSchemeHttps))
        {
            if (await EtcdTls.ProbeAsync(endpoint, tls, EtcdConnection.CallTimeout).ConfigureAwait(false) is { } failure)
            {
                throw new StartupException($"TLS to etcd ({endpoint}) failed: {failure}; check --etcd-cacert (the CA of etcd's --cert-file) and, when etcd has --client-cert-auth, --etcd-cert and --etcd-key");
            }
        }
        try
        {
            try
            {
                await etcd.AuthenticateAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition)
            {
                throw new StartupException($"etcd ({endpoints}) has authentication off, but --etcd-user '{etcd.User}' was given: turn it on (etcdctl auth enable) or drop --etcd-user and --etcd-password-file ({e.Status.Detail})", e);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument)
            {
                throw new StartupException($"etcd ({endpoints}) refused {who}: {e.Status.Detail}; check --etcd-user and --etcd-password-file", e);
            }
            await etcd.CallAsync((c, o) => new Etcdserverpb.KV.KVClient(c).RangeAsync(new Etcdserverpb.RangeRequest
            {
                Key = ByteString.CopyFromUtf8("/mesh/"),
                RangeEnd = ByteString.CopyFrom(EtcdKeys.RangeEnd("/mesh/")),
                Limit = 1,
                KeysOnly = true,
            }, o).ResponseAsync, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.PermissionDenied)
        {
            throw new StartupException($"etcd ({endpoints}) does not let {who} read /mesh/: grant it a role with readwrite on the prefix /mesh/ (docs/ha.md) ({e.Status.Detail})", e);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.Unauthenticated)
        {
            // "user name is empty": etcd has auth on and we gave no user; "invalid auth token" twice: the token is refused.
            throw new StartupException($"etcd ({endpoints}) refused {who}: {e.Status.Detail}; etcd has authentication on: give --etcd-user and --etcd-password-file", e);
        }
        catch (EtcdUnavailableException e)
        {
            return e.Message;
        }
    }
}
