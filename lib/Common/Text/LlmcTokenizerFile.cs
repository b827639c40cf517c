using LlmNet.Common.IO;

namespace LlmNet.Common.Text;

/// <summary>
/// llm.c's gpt2_tokenizer.bin, version 2 (written by llm.c's train_gpt2.py write_tokenizer, read by llmc/tokenizer.h):
/// 256 uint32 header (magic 20240328, version 2, vocabulary size 50257, EOT id 50256), then for every id one length
/// byte and that token's raw bytes. llm.c's samplers decode with it.
/// </summary>
public static class LlmcTokenizerFile
{
    public const uint Magic = 20240328;
    public const uint Version = 2;

    public static void Write(string path)
    {
        var tokenizer = Gpt2Tokenizer.Shared;
        AtomicFile.Write(path, stream =>
        {
            using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            var header = new uint[256];
            header[0] = Magic;
            header[1] = Version;
            header[2] = Gpt2Tokenizer.VocabSize;
            header[3] = Gpt2Tokenizer.EndOfText;
            foreach (uint h in header) w.Write(h); // BinaryWriter writes little-endian, as llm.c reads it
            for (int id = 0; id < Gpt2Tokenizer.VocabSize; id++)
            {
                byte[] bytes = tokenizer.TokenBytes(id);
                w.Write(checked((byte)bytes.Length));
                w.Write(bytes);
            }
        });
    }
}
