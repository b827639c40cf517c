using System.Diagnostics;
using System.Globalization;
using LlmNet.Common.Text;
using Microsoft.ML.Tokenizers;

// llm-tokenize-bench FILE [SECONDS]: single-thread encoding speed of the --tokenizer paths on one English text, each
// from a fresh instance on a fresh thread (first pass: empty caches) and then in steady state, beside
// Microsoft.ML.Tokenizers' own TiktokenTokenizer on the same documents. One thread is one core, so tokens/s is per core;
// tokens per CPU-second is printed beside it because on a shared machine the scheduler's share sets the wall rate.
if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: llm-tokenize-bench FILE [SECONDS]   (e.g. data/tinyshakespeare.txt 10)");
    return 2;
}
string text = File.ReadAllText(args[0]);
double seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 10;
// Paragraphs stand in for documents, as llm-tokenize bench does.
string[] documents = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
Console.WriteLine($"corpus: {args[0]}, {text.Length:N0} chars, {documents.Length:N0} paragraphs; {seconds:F0} s steady state per row; " +
                  $".NET {Environment.Version}, {Environment.ProcessorCount} cores");

var rows = new (string Name, Func<Func<string, int>> Create)[]
{
    ("gpt2, llm.net encoder (--tokenizer gpt2)", () => { var t = Gpt2Tokenizer.Shared; return d => t.Encode(d).Length; }),
    ("gpt2, Microsoft.ML.Tokenizers TiktokenTokenizer.CreateForModel", () => { var t = TiktokenTokenizer.CreateForModel("gpt2"); return d => t.EncodeToIds(d).Count; }),
    ("cl100k_base, llm.net (--tokenizer cl100k_base)", () => { var t = TokenizerCatalog.Open("cl100k_base"); var ids = new List<int>(); return d => { ids.Clear(); t.EncodeTo(d, ids); return ids.Count; }; }),
    ("cl100k_base, Microsoft.ML.Tokenizers TiktokenTokenizer.CreateForEncoding", () => { var t = TiktokenTokenizer.CreateForEncoding("cl100k_base"); return d => t.EncodeToIds(d).Count; }),
};

Console.WriteLine($"{"tokenizer",-72} {"load ms",8} {"tokens",10} {"first pass tok/s",17} {"(per CPU-s)",12} {"steady tok/s",13} {"(per CPU-s)",12}");
foreach (var (name, create) in rows)
{
    // A thread of its own: the llm.net gpt2 encoder's piece cache is per thread, so this pass starts empty too.
    string line = "";
    var thread = new Thread(() =>
    {
        var load = Stopwatch.StartNew();
        var encode = create();
        double loadMs = load.Elapsed.TotalMilliseconds;

        var (tokens, wall, cpu) = Measure(() => documents.Sum(encode), once: true);
        var (steadyTokens, steadyWall, steadyCpu) = Measure(() => documents.Sum(encode), once: false);
        line = $"{name,-72} {loadMs,8:F0} {tokens,10:N0} {Rate(tokens / wall),17} {Rate(tokens / cpu),12} {Rate(steadyTokens / steadyWall),13} {Rate(steadyTokens / steadyCpu),12}";
    }, 64 << 20);
    thread.Start();
    thread.Join();
    Console.WriteLine(line);
}
return 0;

(long Tokens, double Wall, double Cpu) Measure(Func<long> pass, bool once)
{
    var clock = Stopwatch.StartNew();
    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    long tokens = 0;
    do tokens += pass(); while (!once && clock.Elapsed.TotalSeconds < seconds);
    double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
    return (tokens, clock.Elapsed.TotalSeconds, Math.Max(cpu, 1e-9));
}

static string Rate(double perSecond) => perSecond >= 1e6 ? $"{perSecond / 1e6:F2}M" : $"{perSecond / 1e3:F0}k";
