// ratings: stars per book.
using Shop.Common;

var app = ShopApp.Create("ratings", args, out var version);
app.MapGet("/ratings/{id:int}", (HttpContext context, int id) =>
{
    context.Response.Headers["x-served-by"] = $"ratings-{version}";
    return Results.Text((1 + (id * 7 % 5)).ToString(System.Globalization.CultureInfo.InvariantCulture));
});
app.Run();
