// catalog: the books the shop sells.
using Shop.Common;

var app = ShopApp.Create("catalog", args, out _);
Book[] books =
[
    new(1, "The Comedy of Errors", "William Shakespeare"),
    new(2, "A Midsummer Night's Dream", "William Shakespeare"),
    new(3, "Twelfth Night", "William Shakespeare"),
];
app.MapGet("/products", () => Results.Json(books, BookJson.Default.BookArray));
app.MapGet("/products/{id:int}", (int id) => books.FirstOrDefault(b => b.Id == id) is { } book
    ? Results.Json(book, BookJson.Default.Book)
    : Results.Text($"no book {id}", statusCode: 404));
app.Run();

internal sealed record Book(int Id, string Title, string Author);

[System.Text.Json.Serialization.JsonSerializable(typeof(Book[]))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class BookJson : System.Text.Json.Serialization.JsonSerializerContext;
