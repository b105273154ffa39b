// reviews: three versions, as in Istio's Bookinfo. v1 shows no stars, v2 black stars, v3 red stars;
// v2 and v3 call ratings for them.
using Shop.Common;

var app = ShopApp.Create("reviews", args, out var version);
app.MapGet("/reviews/{id:int}", async (HttpContext context, int id) =>
{
    context.Response.Headers["x-served-by"] = $"reviews-{version}";
    var review = $"reviews-{version}: \"A delight.\"";
    if (version == "v1")
    {
        return Results.Text(review);
    }
    var (status, stars) = await ShopApp.CallAsync(context, $"http://ratings/ratings/{id}");
    var colour = version == "v2" ? "black" : "red";
    return status == 200
        ? Results.Text($"{review} {stars} {colour} stars")
        : Results.Text($"{review} (ratings unavailable: {status})");
});
app.Run();
