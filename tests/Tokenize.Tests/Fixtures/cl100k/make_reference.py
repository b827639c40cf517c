#!/usr/bin/env python3
"""Writes the cl100k_base reference that Cl100kShardTests compares llm-tokenize with.

The reference does not share code with the project or with Microsoft.ML.Tokenizers: it splits text with tiktoken's
own cl100k_base pattern (tiktoken_ext/openai_public.py, possessive form) using the `regex` module, which matches over
code points as tiktoken's Rust core does, and merges byte pairs by rank with a plain loop. `--check-gpt2` first runs
the same code with GPT-2's pattern and ranks over Fixtures/tiktoken-gpt2-cases.jsonl, whose ids came from tiktoken
itself, so the splitter and the merge loop are checked against tiktoken before they produce anything.

Shards are laid out as llm.c's dev/data/fineweb.py lays them (each document is <|endoftext|> then encode_ordinary of
its text; a shard is written when the next document does not fit strictly inside it, the document's head filling
it and its tail starting the next) with dev/data/data_common.py's uint32 header (20240801, version 7, count).

Usage: make_reference.py CL100K_RANKS GPT2_RANKS
  Each RANKS file is a tiktoken ranks file: "base64 rank" lines, or base64 lines in rank order after an optional
  "Capacity: N" line (the form Microsoft.ML.Tokenizers.Data.* packages ship, inflated). OpenAI's cl100k_base.tiktoken
  hashes to sha256 223921b7...65b2a7 in the "base64 rank" form.
"""
import base64, json, os, struct, sys
from array import array

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
SHARD_SIZE = 200

# tiktoken_ext/openai_public.py. Rust's \s is Unicode White_Space and its $ is the end of the text; Python's \s also
# takes U+001C..U+001F and its $ also matches before a final newline, so both are spelled out.
CL100K = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
R50K = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


def compile_pattern(pattern):
    pattern = pattern.replace(r"\s", r"\p{White_Space}").replace(r"\S", r"\P{White_Space}").replace("$", r"\Z")
    return regex.compile(pattern)


def load_ranks(path):
    ranks = {}
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("Capacity:")]
    for i, line in enumerate(lines):
        parts = line.split()
        ranks[base64.b64decode(parts[0])] = int(parts[1]) if len(parts) > 1 else i
    return ranks


def merge(piece, ranks):
    if piece in ranks:
        return [ranks[piece]]
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return [ranks[p] for p in parts]
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def encode_ordinary(text, split, ranks):
    ids = []
    for m in split.finditer(text):
        ids.extend(merge(m.group().encode("utf-8"), ranks))
    return ids


def check_gpt2(gpt2_ranks):
    split = compile_pattern(R50K)
    n = 0
    with open(os.path.join(HERE, "..", "tiktoken-gpt2-cases.jsonl"), encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            got = encode_ordinary(case["text"], split, gpt2_ranks)
            assert got == case["ids"], f"reference differs from tiktoken on {case['text']!r}: {got} != {case['ids']}"
            n += 1
    print(f"gpt2: the reference matches tiktoken on {n} cases")


def write_shard(path, tokens):
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", *([20240801, 7, len(tokens)] + [0] * 253)))
        f.write(array("I", tokens).tobytes())


def main():
    cl100k_ranks, gpt2_ranks = load_ranks(sys.argv[1]), load_ranks(sys.argv[2])
    check_gpt2(gpt2_ranks)
    split = compile_pattern(CL100K)
    assert encode_ordinary("Hello world", split, cl100k_ranks) == [9906, 1917]
    assert encode_ordinary("tiktoken is great!", split, cl100k_ranks) == [83, 1609, 5963, 374, 2294, 0]

    eot = 100257
    with open(os.path.join(HERE, "corpus.jsonl"), encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f if line.strip()]
    encoded = [encode_ordinary(d, split, cl100k_ranks) for d in docs]
    with open(os.path.join(HERE, "expected_ids.json"), "w", encoding="utf-8") as f:
        json.dump(encoded, f)
        f.write("\n")

    shard, index = [], 0
    for ids in encoded:
        tokens = [eot] + ids
        assert len(tokens) < SHARD_SIZE, "fineweb.py's layout assumes a document fits in one shard"
        if len(shard) + len(tokens) < SHARD_SIZE:
            shard += tokens
        else:
            rest = SHARD_SIZE - len(shard)
            write_shard(os.path.join(HERE, f"cl_{'val' if index == 0 else 'train'}_{index:06d}.bin"), shard + tokens[:rest])
            index += 1
            shard = tokens[rest:]
    if shard:
        write_shard(os.path.join(HERE, f"cl_{'val' if index == 0 else 'train'}_{index:06d}.bin"), shard)
        index += 1
    print(f"cl100k_base: {len(docs)} documents, {sum(len(e) + 1 for e in encoded)} tokens, {index} shards of {SHARD_SIZE}")


if __name__ == "__main__":
    main()
