using Microsoft.AspNetCore.RateLimiting;

namespace Mesh.ControlPlane.Limits;

internal static class LimitServices
{
    public static IServiceCollection AddMeshLimits(this IServiceCollection services)
    {
        services.AddSingleton<ControlPlaneRateLimits>();
        services.AddSingleton<LimitRefusals>();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<ControlPlaneRateLimits, IServiceProvider>((options, limits, sp) =>
        {
            options.GlobalLimiter = limits.Global;
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = (context, _) =>
                new ValueTask(sp.GetRequiredService<LimitRefusals>().TooManyRequests(context.HttpContext, context.Lease).ExecuteAsync(context.HttpContext));
        });
        return services;
    }

    /// <summary>
    /// Refuses a body announced (Content-Length) larger than its endpoint takes with a problem naming
    /// the limit, before anything reads it. A chunked body is stopped by Kestrel when it passes the
    /// same limit (endpoint routing sets it from the endpoint's metadata).
    /// </summary>
    public static IApplicationBuilder UseMeshBodyLimits(this IApplicationBuilder app)
    {
        var refusals = app.ApplicationServices.GetRequiredService<LimitRefusals>();
        return app.Use(async (context, next) =>
        {
            var limit = RequestLimits.BodyLimitOf(context);
            if (context.Request.ContentLength is { } length && length > limit)
            {
                await refusals.TooLarge(context, length, limit).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
        });
    }
}
