using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.ServiceDiscovery;

namespace Mesh.Discovery;

/// <summary>
/// A Microsoft.Extensions.ServiceDiscovery provider answering from the mesh registry: the healthy
/// instances of a service (<c>reviews</c>, or <c>reviews.shop</c> for another namespace), selected by
/// <see cref="MeshDiscoveryOptions"/>, with a change token that fires when the registry changes.
/// </summary>
internal sealed class MeshServiceEndpointProvider(ServiceEndpointQuery query, MeshServiceCatalog catalog, MeshDiscoveryOptions options) : IServiceEndpointProvider
{
    public async ValueTask PopulateAsync(IServiceEndpointBuilder endpoints, CancellationToken cancellationToken)
    {
        var (service, ns) = Name(query.ServiceName, options.Namespace);
        var watch = catalog.Watch(service, ns);
        // The token first: a change between the read and the token must not be missed.
        endpoints.AddChangeToken(watch.ChangeToken);
        var instances = await watch.InstancesAsync(options.FirstAnswerTimeout, cancellationToken).ConfigureAwait(false);
        foreach (var instance in MeshInstance.Select(instances, options))
        {
            EndPoint endpoint = IPAddress.TryParse(instance.Address, out var ip) ? new IPEndPoint(ip, instance.Port) : new DnsEndPoint(instance.Address, instance.Port);
            endpoints.Endpoints.Add(ServiceEndpoint.Create(endpoint));
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public override string ToString() => "Mesh";

    /// <summary><c>reviews</c> is in the default namespace; <c>reviews.shop</c> in <c>shop</c>.</summary>
    internal static (string Service, string Namespace) Name(string name, string defaultNamespace)
    {
        var dot = name.IndexOf('.');
        return dot < 0 ? (name, defaultNamespace) : (name[..dot], name[(dot + 1)..]);
    }
}

internal sealed class MeshServiceEndpointProviderFactory(MeshServiceCatalog catalog, IOptions<MeshDiscoveryOptions> options) : IServiceEndpointProviderFactory
{
    public bool TryCreateProvider(ServiceEndpointQuery query, out IServiceEndpointProvider provider)
    {
        provider = new MeshServiceEndpointProvider(query, catalog, options.Value);
        return true;
    }
}

public static class MeshServiceDiscoveryExtensions
{
    /// <summary>
    /// Resolves service names (<c>http://reviews</c>, <c>https+http://reviews</c>, YARP destinations) from the
    /// mesh registry through a Mesh sidecar's Consul agent API. Call after <c>AddServiceDiscovery()</c>.
    /// </summary>
    public static IServiceCollection AddMeshServiceEndpointProvider(this IServiceCollection services, Action<MeshDiscoveryOptions>? configure = null)
    {
        services.AddServiceDiscoveryCore();
        if (configure is not null)
        {
            services.Configure(configure);
        }
        services.TryAddSingleton<MeshServiceCatalog>();
        services.AddSingleton<IServiceEndpointProviderFactory, MeshServiceEndpointProviderFactory>();
        return services;
    }
}
