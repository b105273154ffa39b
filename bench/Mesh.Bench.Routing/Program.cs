using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Mesh.Bench.Routing [-- --job short]
BenchmarkSwitcher.FromAssembly(typeof(Mesh.Bench.Routing.RouteMatchBenchmarks).Assembly).Run(args);
