using LlmNet.Eval.HellaSwag;

namespace LlmNet.Eval.Tests;

/// <summary>Small synthetic examples with varied lengths.</summary>
internal static class TestExamples
{
    public static List<HellaSwagExample> Make(int count, int seed = 1)
    {
        var rng = new Random(seed);
        var list = new List<HellaSwagExample>();
        for (int i = 0; i < count; i++)
        {
            int[] Tokens(int min, int max) => [.. Enumerable.Range(0, rng.Next(min, max + 1)).Select(_ => rng.Next(0, 50257))];
            list.Add(new HellaSwagExample(i, rng.Next(4), Tokens(1, 20), [Tokens(1, 9), Tokens(1, 9), Tokens(1, 9), Tokens(1, 9)]));
        }
        return list;
    }
}
