// storefront: the page users open. It asks catalog for the books and reviews for each one.
using System.Text;
using System.Text.Json;
using Shop.Common;

var app = ShopApp.Create("storefront", args, out _);
app.MapGet("/", async (HttpContext context) =>
{
    var page = new StringBuilder();
    var user = context.Request.Headers["end-user"].ToString();
    page.AppendLine(user.Length == 0 ? "Mesh bookshop" : $"Mesh bookshop, welcome {user}");
    var (status, catalog) = await ShopApp.CallAsync(context, "http://catalog/products");
    if (status != 200)
    {
        return Results.Text($"{page}catalog unavailable: {status} {catalog}\n", statusCode: 502);
    }
    using var books = JsonDocument.Parse(catalog);
    foreach (var book in books.RootElement.EnumerateArray())
    {
        var id = book.GetProperty("id").GetInt32();
        var (reviewStatus, review) = await ShopApp.CallAsync(context, $"http://reviews/reviews/{id}");
        page.Append(id.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(". ").Append(book.GetProperty("title").GetString())
            .Append(" — ").AppendLine(reviewStatus == 200 ? review : $"reviews unavailable: {reviewStatus}");
    }
    return Results.Text(page.ToString());
});
app.Run();

