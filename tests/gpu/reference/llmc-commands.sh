# llm.c's reference commands on the Zipf shards (llmc-zipf-d12.txt, llmc-zipf-d48.txt: measured with llm.c f1e2ace on
# one H200; ../shared/reference/llmc-zipf-runs.md), for the GPU scripts that run them: ladder.sh, speed-bench.sh and
# bitwise-check.sh source this file. It reads DATA (the shard folder) and defines
#   COMMON  the flags every run shares
#   D12     d12's flags without -x (the reference ran -x 25)
#   D48     d48's flags without -x (the reference ran -x 40)
#   make_zipf_shards LOG   the shards in $DATA (make_shards.py, numpy) unless they are there; its output goes to LOG
COMMON=(-i "$DATA/synth_train_*.bin" -j "$DATA/synth_val_*.bin" -t 1024 -v 100000 -m 2 -s 0 -g 16 -h 0 -y 0 -z 0 -c 0.1 -l 0.0006 -u 700)
D12=(-e d12 -b 64 -d 524288 -r 0 -q 0.0)
D48=(-e d48 -b 16 -d 16384 -r 0 -k cosine -q 0.1 -ge 1)

make_zipf_shards() {
  [[ -s $DATA/synth_train_000002.bin ]] && return 0
  python3 "$(dirname "${BASH_SOURCE[0]}")/make_shards.py" --dist zipf --out "$DATA" --train_tokens 30000000 > "$1" 2>&1
}
