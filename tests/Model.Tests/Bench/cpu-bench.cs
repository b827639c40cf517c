#:project ../../../lib/Model/LlmNet.Model.csproj
#:property Configuration=Release
// CPU backend training-step benchmark. Usage:
//   dotnet run -c Release tests/Model.Tests/Bench/cpu-bench.cs -- [descriptor=d12] [B=4] [T=64] [steps=5] [threads=0 (all cores)]
using LlmNet.Model.Cpu;

string descriptor = args.Length > 0 ? args[0] : "d12";
int b = args.Length > 1 ? int.Parse(args[1]) : 4;
int t = args.Length > 2 ? int.Parse(args[2]) : 64;
int steps = args.Length > 3 ? int.Parse(args[3]) : 5;
int threads = args.Length > 4 ? int.Parse(args[4]) : 0;
var r = CpuBenchmark.Run(descriptor, b, t, steps, warmup: 1, threads, Console.Out);
Console.WriteLine($"{r.Descriptor} B={r.BatchSize} T={r.SeqLen} threads={r.Threads}: {r.TokensPerSecond:F0} tok/s, " +
    $"{r.SecondsPerStep * 1000:F0} ms/step ({r.CpuSecondsPerStep:F2} CPU-s/step) (fwd {r.ForwardSeconds * 1000:F0}, bwd {r.BackwardSeconds * 1000:F0}, update {r.UpdateSeconds * 1000:F0}), {r.GflopsPerSecond:F1} GFLOP/s");
