using System.Text;
using Mesh.Core.Registry;
using Microsoft.AspNetCore.Http;

namespace Mesh.Sidecar.Tests.Discovery;

/// <summary>The Eureka port's answers to what clients get wrong or Mesh does not do: always a status and a reason.</summary>
public sealed class EurekaHandlerTests : IDisposable
{
    private readonly EurekaTestHost _host = new();

    [Theory]
    [InlineData("GET", "/eureka/apps", "application/xml", 406, "JSON only")]
    [InlineData("GET", "/eureka/apps?regions=us-east-1", "application/json", 501, "remote regions")]
    [InlineData("GET", "/eureka/instances/orders-1", "application/json", 404, "instance orders-1 is not registered")]
    [InlineData("GET", "/eureka/status", "application/json", 501, "not implemented")]
    [InlineData("GET", "/eureka/svips/orders", "application/json", 501, "not implemented")]
    [InlineData("PATCH", "/eureka/apps/ORDERS", "application/json", 405, "not part of Eureka's API")]
    [InlineData("PUT", "/eureka/apps/ORDERS/orders-1", "application/json", 404, "not registered with this sidecar")]
    [InlineData("DELETE", "/eureka/apps/ORDERS/orders-1", "application/json", 404, "not registered with this sidecar")]
    [InlineData("PUT", "/eureka/apps/ORDERS/orders-1/status?value=ASLEEP", "application/json", 400, "value: 'ASLEEP' is not a Eureka status")]
    [InlineData("GET", "/eureka/apps/ORDERS", "application/json", 404, "no instance of app ORDERS")]
    [InlineData("GET", "/", "application/json", 404, "/eureka/apps/")]
    public async Task InvokeAsync_UnanswerableRequest_SaysWhy(string method, string target, string accept, int status, string reason)
    {
        var (code, body) = await SendAsync(method, target, accept: accept);

        Assert.Equal(status, code);
        Assert.Contains(reason, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_Xml_Is415_OversizedIs413_InvalidIs400()
    {
        Assert.Equal(415, (await SendAsync("POST", "/eureka/apps/ORDERS", "<instance/>", contentType: "application/xml")).Status);
        Assert.Equal(413, (await SendAsync("POST", "/eureka/apps/ORDERS", new string(' ', 70_000))).Status);
        var (status, body) = await SendAsync("POST", "/eureka/apps/ORDERS", "{not json");
        Assert.Equal(400, status);
        Assert.Contains("not JSON", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_ThenAppearsInTheSnapshot_Is204_HeartbeatCancel200()
    {
        _host.Apply(3, [new ServiceInstance { InstanceId = "orders-1@shop-1", Service = "orders", Address = "127.0.0.1", Port = 8080, Source = RegistrationSource.Eureka, Node = "shop-1", Health = HealthStatus.Healthy }]);

        var (status, _) = await SendAsync("POST", "/eureka/v2/apps/ORDERS", """{"instance": {"instanceId": "orders-1", "app": "ORDERS", "hostName": "127.0.0.1", "port": 8080}}""");

        Assert.Equal(204, status);
        Assert.Equal(200, (await SendAsync("PUT", "/eureka/apps/ORDERS/orders-1?status=UP")).Status);
        var (found, json) = await SendAsync("GET", "/eureka/apps/ORDERS/orders-1", accept: "application/json");
        Assert.Equal(200, found);
        Assert.Contains("\"instanceId\":\"orders-1\"", json, StringComparison.Ordinal);
        Assert.Equal(200, (await SendAsync("GET", "/eureka/instances/orders-1")).Status);
        Assert.Equal(200, (await SendAsync("DELETE", "/eureka/apps/ORDERS/orders-1")).Status);
        Assert.Null(_host.Agent.Find("orders-1@shop-1"));
    }

    private async Task<(int Status, string Body)> SendAsync(string method, string target, string? body = null, string accept = "application/json", string contentType = "application/json")
    {
        var context = new DefaultHttpContext();
        var query = target.IndexOf('?');
        context.Request.Method = method;
        context.Request.Path = query < 0 ? target : target[..query];
        context.Request.QueryString = query < 0 ? QueryString.Empty : new QueryString(target[query..]);
        context.Request.Headers.Accept = accept;
        if (body is not null)
        {
            context.Request.ContentType = contentType;
            context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body));
        }
        var response = new MemoryStream();
        context.Response.Body = response;
        await _host.Handler.InvokeAsync(context);
        return (context.Response.StatusCode, Encoding.UTF8.GetString(response.ToArray()));
    }

    public void Dispose() => _host.Dispose();
}
