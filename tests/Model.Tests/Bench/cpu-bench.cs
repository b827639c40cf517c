#:project ../../../lib/Model/LlmNet.Model.csproj
#:property Configuration=Release
// CPU backend training-step benchmark: a fresh model of the descriptor, one untimed warm-up step and STEPS timed steps
// (forward, backward, AdamW) on random tokens; prints tokens/s and the achieved GFLOP/s (6·N + 6·L·C·T flops per
// token, llm.c's count). Usage:
//   dotnet run -c Release tests/Model.Tests/Bench/cpu-bench.cs -- [descriptor=d12] [B=4] [T=64] [steps=5] [threads=0 (all cores)]
using System.Diagnostics;
using LlmNet.Model;
using LlmNet.Model.Cpu;
using LlmNet.Model.Random;

string descriptor = args.Length > 0 ? args[0] : "d12";
int b = args.Length > 1 ? int.Parse(args[1]) : 4;
int t = args.Length > 2 ? int.Parse(args[2]) : 64;
int steps = args.Length > 3 ? int.Parse(args[3]) : 5;
int threads = args.Length > 4 ? int.Parse(args[4]) : 0;
const int warmup = 1;

var config = GptConfig.FromDescriptor(descriptor);
using var backend = new CpuBackend(config, b, t, threads);
backend.SetParameters(GptModel.CreateFresh(config));
var rng = new Mt19937(1337);
int bt = b * t;
var inputs = new int[bt];
var targets = new int[bt];
for (int i = 0; i < bt; i++)
{
    inputs[i] = (int)(rng.NextUInt32() % (uint)config.VocabSize);
    targets[i] = (int)(rng.NextUInt32() % (uint)config.VocabSize);
}
double forward = 0, backward = 0, update = 0;
var process = Process.GetCurrentProcess();
TimeSpan cpuStart = TimeSpan.Zero;
for (int step = 0; step < warmup + steps; step++)
{
    if (step == warmup) { process.Refresh(); cpuStart = process.TotalProcessorTime; }
    var sw = Stopwatch.StartNew();
    float loss = backend.Forward(inputs, targets, b, t);
    double f = sw.Elapsed.TotalSeconds;
    backend.ZeroGradients();
    backend.Backward(1.0f / bt);
    double bwd = sw.Elapsed.TotalSeconds - f;
    double norm = Math.Sqrt(backend.GradientNormSquared());
    backend.Update(new AdamWStep(6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, norm > 1.0 ? (float)(1.0 / norm) : 1.0f, step + 1));
    double total = sw.Elapsed.TotalSeconds;
    Console.WriteLine($"step {step + 1}/{warmup + steps}{(step < warmup ? " (warmup)" : "")}: loss {loss:F4}, {total * 1000:F0} ms (fwd {f * 1000:F0}, bwd {bwd * 1000:F0}, update {(total - f - bwd) * 1000:F0})");
    if (step < warmup) continue;
    forward += f;
    backward += bwd;
    update += total - f - bwd;
}
process.Refresh();
double cpuPerStep = (process.TotalProcessorTime - cpuStart).TotalSeconds / steps;
double perStep = (forward + backward + update) / steps;
double tokensPerSecond = bt / perStep;
double gflops = config.FlopsPerToken(t) * tokensPerSecond / 1e9;
Console.WriteLine($"{descriptor} B={b} T={t} threads={(threads > 0 ? threads : Environment.ProcessorCount)}: {tokensPerSecond:F0} tok/s, " +
    $"{perStep * 1000:F0} ms/step ({cpuPerStep:F2} CPU-s/step) (fwd {forward / steps * 1000:F0}, bwd {backward / steps * 1000:F0}, update {update / steps * 1000:F0}), {gflops:F1} GFLOP/s");
