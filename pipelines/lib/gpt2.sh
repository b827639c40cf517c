# The GPT-2 reproduction pipeline, parameterised by model size. Sourced by pipelines/gpt2-*.sh,
# which set the size-specific variables below and then call gpt2_main "$@".
#
# Required (set by the wrapper): RUN_NAME MODEL BATCH SEQ TOTAL_BATCH LR FINAL_LR_FRAC WARMUP STEPS
#   CKPT_EVERY SAMPLE_EVERY GEN_TOKENS DATA_SET (edu_fineweb100B | edu_fineweb10B) PLOT_SIZE EXTRA_FLAGS

source "$(dirname "${BASH_SOURCE[0]}")/stages.sh"

DATA_DIR=${DATA_DIR:-$REPO_ROOT/data}
OUT_DIR=${OUT_DIR:-$REPO_ROOT/runs/$RUN_NAME}
NGPU=${NGPU:-$(gpu_count)}
SHARDS=${SHARDS:-}           # train shards to fetch; default: just enough for STEPS
SOURCE=${SOURCE:-shards}     # shards: llm.c's pre-tokenized shards; parquet: fetch FineWeb-EDU parquet + tokenize
PARQUET_FILES=${PARQUET_FILES:-}
MPIRUN=${MPIRUN:-mpirun}
MAX_RESTARTS=${MAX_RESTARTS:-50}

STAGES=(fetch hellaswag train eval sample plot)

shard_dir() { echo "$DATA_DIR/$DATA_SET"; }

# Train shards needed: STEPS × TOTAL_BATCH tokens at ~99.87M usable tokens per 100M-token shard.
default_shards() { echo $(( (STEPS * TOTAL_BATCH + 99000000) / 99000000 + 1 )); }

stage_fetch() {
  local dir; dir=$(shard_dir)
  local n=${SHARDS:-$(default_shards)}
  case $SOURCE in
    shards)
      "$BIN/llm-fetch" edu-fineweb-shards --shards "$n" --out "$dir" ;;
    parquet)
      local raw="$DATA_DIR/fineweb-edu-parquet"
      "$BIN/llm-fetch" fineweb-edu --sample "${PARQUET_SAMPLE:-100BT}" ${PARQUET_FILES:+--files "$PARQUET_FILES"} --out "$raw"
      "$BIN/llm-tokenize" "$raw"/*.parquet --out "$dir" --prefix edu_fineweb ;;
    *) die "SOURCE must be 'shards' or 'parquet', not '$SOURCE'" ;;
  esac
}

stage_hellaswag() {
  local dir="$DATA_DIR/hellaswag"
  [[ -s $dir/hellaswag_val.bin ]] && { echo "hellaswag: $dir/hellaswag_val.bin exists"; return; }
  "$BIN/llm-fetch" hellaswag --out "$dir"
  "$BIN/llm-tokenize" hellaswag "$dir/hellaswag_val.jsonl" --out "$dir/hellaswag_val.bin"
}

final_done() { printf '%s/DONE_%08d' "$OUT_DIR" "$STEPS"; }

stage_train() {
  mkdir -p "$OUT_DIR"
  local dir; dir=$(shard_dir)
  local flags=(-i "$dir/edu_fineweb_train_*.bin" -j "$dir/edu_fineweb_val_*.bin" -o "$OUT_DIR"
    -v 250 -s "$SAMPLE_EVERY" -g "$GEN_TOKENS" -h 1 --hellaswag-data "$DATA_DIR/hellaswag/hellaswag_val.bin"
    -b "$BATCH" -t "$SEQ" -d "$TOTAL_BATCH" -r 0 -z 1 -c 0.1 -k cosine -l "$LR" -q "$FINAL_LR_FRAC"
    -u "$WARMUP" -n "$CKPT_EVERY" -x "$STEPS" -y 1 -e "$MODEL" $EXTRA_FLAGS)
  local launch=("$BIN/llm-train")
  if (( NGPU > 1 )); then
    launch=("$MPIRUN" -np "$NGPU")
    [[ $(id -u) == 0 ]] && launch+=(--allow-run-as-root)
    launch+=("$BIN/llm-train")
  fi
  (( NGPU > 0 )) && flags+=(--device cuda)
  # Auto-resume: a crashed run restarts from its last complete checkpoint (-y 1) until the final one exists.
  local restarts=0
  until [[ -f $(final_done) ]]; do
    if (( restarts > 0 )); then
      (( restarts > MAX_RESTARTS )) && die "training stopped $MAX_RESTARTS times without finishing; see $OUT_DIR/main.log"
      log "training exited before step $STEPS; resuming (restart $restarts)"
      sleep 1
    fi
    "${launch[@]}" "${flags[@]}" || true
    restarts=$((restarts + 1))
  done
  echo "train: $(final_done) exists"
}

final_model() { printf '%s/model_%08d.bin' "$OUT_DIR" "$STEPS"; }

stage_eval() {
  local out="$OUT_DIR/hellaswag_final.json"
  [[ -s $out ]] && { echo "eval: $out exists"; return; }
  local dev=cpu; (( NGPU > 0 )) && dev=cuda
  "$BIN/llm-eval" hellaswag -e "$(final_model)" --data "$DATA_DIR/hellaswag/hellaswag_val.bin" --device "$dev" --json | tee "$out.tmp"
  tail -n 1 "$out.tmp" > "$out" && rm -f "$out.tmp"
}

stage_sample() {
  local out="$OUT_DIR/samples.txt"
  [[ -s $out ]] && { echo "sample: $out exists"; return; }
  local dev=cpu; (( NGPU > 0 )) && dev=cuda
  "$BIN/llm-sample" -e "$(final_model)" -g "$GEN_TOKENS" --device "$dev" > "$out.tmp" && mv "$out.tmp" "$out"
  cat "$out"
}

stage_plot() {
  "$BIN/llm-plot" "$OUT_DIR/main.log" --out "$OUT_DIR/curves.png" --size "$PLOT_SIZE"
  "$BIN/llm-plot" "$OUT_DIR/main.log" --out "$OUT_DIR/curves.svg" --size "$PLOT_SIZE" --quiet
}

gpt2_main() {
  run_stages "$@"
  echo "outputs: $OUT_DIR (main.log, checkpoints, hellaswag_final.json, samples.txt, curves.png/svg)"
}
