# The GPT-2 reproduction pipeline, parameterised by model size. Sourced by pipelines/gpt2-*.sh, which set
# the variables below and then call gpt2_main "$@".
#
# Set by the wrapper:
#   RUN_NAME          run name (llm.c's out_dir is log_<RUN_NAME without gpt2_ prefix>, ours runs/RUN_NAME)
#   LLMC_SCRIPT       the llm.c script reproduced, e.g. run_gpt2_1558M.sh
#   DEFAULT_DATASET   the data set that script trains on (fineweb10B, fineweb100B, edu_fineweb100B)
#   LLMC_FLAGS        array: that script's train_gpt2cu flags after -i/-j/-o, in its order
#   LLMC_EPOCH_STEPS  for a script without -x (one epoch): the final step llm.c's done_file names
#   PLOT_SIZE         llm-plot --size

source "$(dirname "${BASH_SOURCE[0]}")/stages.sh"

DATA_DIR=${DATA_DIR:-$REPO_ROOT/data}
OUT_DIR=${OUT_DIR:-$REPO_ROOT/runs/$RUN_NAME}
DATASET=${DATASET:-$DEFAULT_DATASET}
SOURCE=${SOURCE:-}
SHARDS=${SHARDS:-all}
DEVICE=${DEVICE:-cuda}
NGPU=${NGPU:-}
MPIRUN=${MPIRUN:-mpirun}
STEPS=${STEPS:-}
EXTRA_FLAGS=${EXTRA_FLAGS:-}
MAX_RESTARTS=${MAX_RESTARTS:-50}

# llm.c's run scripts all launch `mpirun -np 8`.
LLMC_PROCESSES=8
# A run stops retrying after this many failures in a row that wrote no new checkpoint (a failure that repeats).
STALLED_LIMIT=3

STAGES=(fetch hellaswag train eval sample plot)
HELLASWAG_DIR=$DATA_DIR/hellaswag
HELLASWAG_BIN=$HELLASWAG_DIR/hellaswag_val.bin

pipeline_help() {
  cat <<EOF
Stages: fetch (the train/val shards of DATASET), hellaswag (download + llm.c's eval .bin), train (every local GPU
through mpirun, resumed with -y 1 until the final DONE marker exists), eval (final HellaSwag score), sample, plot.
Every stage skips work already done and verified, so re-running the script continues an interrupted run, and a
fetch whose files were verified before needs no network. Training starts with a preflight: verified shards, the
HellaSwag file when -h 1, the GPUs, mpirun; each failure is one line naming the fix.

Usage: $(basename "$0") [--stage NAME | --from NAME] [--dry-run] | --list | --help
  --stage NAME   run one stage        --from NAME   run from this stage on      --list   list the stages
  --dry-run      print the command of every selected stage (llm.c's flags included), run nothing, exit 0

Settings (environment):
  DATASET       fineweb10B | fineweb100B | edu_fineweb10B | edu_fineweb100B. Default $DEFAULT_DATASET, what llm.c's
                $LLMC_SCRIPT reads. fineweb* is classic FineWeb, edu_* FineWeb-EDU; 10B/100B are the samples
                sample-10BT/100BT
  SOURCE        shards: the pre-tokenized shards llm.c's dev/data/fineweb.sh (fineweb100B) or edu_fineweb.sh
                (edu_fineweb100B) downloads; parquet: the sample's parquet files from HuggingFaceFW/fineweb(-edu),
                tokenized here into the shards llm.c's dev/data/fineweb.py writes. Default: shards where they exist
  SHARDS        train shards to fetch with SOURCE=shards: all (default: the whole set llm.c downloads, which its
                glob shuffles over) or N, the first N (a different token stream from llm.c's)
  DATA_DIR      default ./data: shards in DATA_DIR/DATASET (llm.c: dev/data/DATASET), HellaSwag in DATA_DIR/hellaswag
  OUT_DIR       default ./runs/$RUN_NAME: main.log, checkpoints, hellaswag_final.json, samples.txt, curves.png/svg
  DEVICE        cuda (default) or cpu (slow; for trying the pipeline on a machine without a GPU)
  NGPU          processes, one per GPU (default: every GPU nvidia-smi lists); more than 1 launches through MPIRUN.
                llm.c runs $LLMC_PROCESSES: its data order depends on the process count
  MPIRUN        the MPI launcher (default mpirun)
  STEPS         replaces llm.c's -x (number of updates)
  EXTRA_FLAGS   more llm-train flags, added last so they win, e.g. EXTRA_FLAGS='-nk 2' (keep two checkpoints)
  MAX_RESTARTS  crash restarts before giving up (default 50); a configuration error (exit 2) is never retried, and
                $STALLED_LIMIT failures in a row without a new checkpoint stop the run
  BIN           folder of the llm-* tools (default ./bin, built when missing or older than the sources)
  HF_ENDPOINT, HF_TOKEN   for llm-fetch (a Hub mirror, a token)
What still differs from llm.c's $LLMC_SCRIPT is listed in README.md (Pipelines).
EOF
}

# The data set's layout: shard prefix, the llm-fetch command of its pre-tokenized shards (none for the 10B
# samples, which llm.c tokenizes itself), the llm-fetch command and sample of its parquet source.
dataset_setup() {
  case $DATASET in
    fineweb10B)      DS_PREFIX=fineweb;     DS_SHARDS_CMD="";                 DS_PARQUET_CMD=fineweb;     DS_SAMPLE=10BT ;;
    fineweb100B)     DS_PREFIX=fineweb;     DS_SHARDS_CMD=fineweb-shards;     DS_PARQUET_CMD=fineweb;     DS_SAMPLE=100BT ;;
    edu_fineweb10B)  DS_PREFIX=edu_fineweb; DS_SHARDS_CMD="";                 DS_PARQUET_CMD=fineweb-edu; DS_SAMPLE=10BT ;;
    edu_fineweb100B) DS_PREFIX=edu_fineweb; DS_SHARDS_CMD=edu-fineweb-shards; DS_PARQUET_CMD=fineweb-edu; DS_SAMPLE=100BT ;;
    *) die "DATASET=$DATASET: choose fineweb10B, fineweb100B, edu_fineweb10B or edu_fineweb100B" ;;
  esac
  [[ -n $SOURCE ]] || SOURCE=${DS_SHARDS_CMD:+shards}
  [[ -n $SOURCE ]] || SOURCE=parquet
  case $SOURCE in
    shards) [[ -n $DS_SHARDS_CMD ]] || die "DATASET=$DATASET has no pre-tokenized shards to download (llm.c makes them with dev/data/fineweb.py); use SOURCE=parquet" ;;
    parquet) ;;
    *) die "SOURCE=$SOURCE: choose shards or parquet" ;;
  esac
  [[ $SHARDS == all || $SHARDS =~ ^[1-9][0-9]*$ ]] || die "SHARDS=$SHARDS: choose all or a number of train shards"
  [[ $SOURCE == shards || $SHARDS == all ]] || die "SHARDS=$SHARDS applies to SOURCE=shards; SOURCE=parquet tokenizes the whole sample"
  SHARD_DIR=$DATA_DIR/$DATASET
}

# NGPU: as set, else every GPU visible. A dry run on a machine without GPUs shows llm.c's process count.
resolve_processes() {
  VISIBLE_GPUS=$(gpu_count)
  if [[ $DEVICE == cpu ]]; then NPROC=1; return; fi
  [[ $DEVICE == cuda ]] || die "DEVICE=$DEVICE: choose cuda or cpu"
  if [[ -z $NGPU ]]; then
    NGPU=$VISIBLE_GPUS
    if (( DRY_RUN && NGPU == 0 )); then NGPU=$LLMC_PROCESSES; note "NGPU: no GPU visible here; showing llm.c's $LLMC_PROCESSES processes"; fi
  fi
  [[ $NGPU =~ ^[0-9]+$ ]] || die "NGPU=$NGPU: give a number of GPUs"
  NPROC=$NGPU
}

# set_flag ARRAY FLAG VALUE: gives the last FLAG in ARRAY the value VALUE, or appends FLAG VALUE.
set_flag() {
  local -n arr=$1
  local i last=-1
  for ((i = 0; i < ${#arr[@]} - 1; i++)); do [[ ${arr[i]} == "$2" ]] && last=$i; done
  if (( last >= 0 )); then arr[last + 1]=$3; else arr+=("$2" "$3"); fi
}

# flag_value FLAG DEFAULT: FLAG's value in the train command (the last one wins, as in llm-train).
flag_value() {
  local i value=$2
  for ((i = 0; i < ${#TRAIN_ARGS[@]} - 1; i++)); do [[ ${TRAIN_ARGS[i]} == "$1" ]] && value=${TRAIN_ARGS[i + 1]}; done
  printf '%s' "$value"
}

# The launcher and the llm-train command line: llm.c's -i/-j/-o and flags, then what llm-train needs beyond them
# (the HellaSwag file's path, the device), then EXTRA_FLAGS.
build_train_command() {
  LAUNCH=()
  if [[ $DEVICE == cuda ]] && (( NPROC > 1 )); then
    # --bind-to none: Open MPI pins each of two processes to a single core by default, and llm-train's host side
    # is multithreaded; the multi-GPU measurements (tests/gpu/scaling-bench.sh) ran unpinned too.
    LAUNCH=("$MPIRUN" -np "$NPROC" --bind-to none)
    [[ $(id -u) == 0 ]] && LAUNCH+=(--allow-run-as-root)
  fi
  LAUNCH+=("$BIN/llm-train")
  local flags=("${LLMC_FLAGS[@]}")
  [[ -n $STEPS ]] && set_flag flags -x "$STEPS"
  local extra; read -r -a extra <<<"$EXTRA_FLAGS"
  TRAIN_ARGS=(-i "$SHARD_DIR/${DS_PREFIX}_train_*.bin" -j "$SHARD_DIR/${DS_PREFIX}_val_*.bin" -o "$OUT_DIR"
    "${flags[@]}" --hellaswag-data "$HELLASWAG_BIN" --device "$DEVICE" "${extra[@]}")
}

# Says, before anything runs, where this run's setting departs from llm.c's.
describe_settings() {
  local say=log; (( DRY_RUN )) && say=note
  $say "settings: DATASET=$DATASET SOURCE=$SOURCE SHARDS=$SHARDS DEVICE=$DEVICE NGPU=${NGPU:-0} DATA_DIR=$DATA_DIR OUT_DIR=$OUT_DIR"
  [[ $DATASET == "$DEFAULT_DATASET" ]] || $say "differs from llm.c: DATASET=$DATASET, but $LLMC_SCRIPT trains on $DEFAULT_DATASET"
  [[ $SHARDS == all ]] || $say "differs from llm.c: SHARDS=$SHARDS; llm.c's loader shuffles every shard its glob matches, the whole download, so the token stream is another one"
  [[ $DEVICE == cpu ]] && $say "differs from llm.c: DEVICE=cpu"
  if [[ $DEVICE == cuda ]] && (( NPROC != LLMC_PROCESSES )); then
    $say "differs from llm.c: $NPROC process(es), llm.c $LLMC_PROCESSES; each process shuffles with seed 42 + rank and the processes interleave within every batch, so the token stream equals llm.c's only with $LLMC_PROCESSES"
  fi
  [[ -z $STEPS ]] || $say "differs from llm.c: STEPS=$STEPS replaces -x"
  [[ -z $EXTRA_FLAGS ]] || $say "differs from llm.c: EXTRA_FLAGS=$EXTRA_FLAGS"
  return 0
}

before_stages() {
  dataset_setup
  resolve_processes
  build_train_command
  describe_settings
  # A run that will train checks the machine before fetching hundreds of gigabytes for it.
  [[ " $* " == *" train "* ]] && preflight_machine
  return 0
}

# --- preflight: each failure is one line naming the fix, and nothing is retried ---

preflight_machine() {
  if (( DRY_RUN )); then
    if [[ $DEVICE == cuda ]]; then
      note "preflight: nvidia-smi must list at least NGPU=$NPROC GPU(s)$( ((NPROC > 1)) && printf '; %s must be on PATH' "$MPIRUN")"
    fi
    return 0
  fi
  [[ $DEVICE == cpu ]] && return 0
  local model; model=$(flag_value -e "")
  if (( VISIBLE_GPUS == 0 )); then
    die "no GPU visible (nvidia-smi lists none), and $RUN_NAME trains $model on CUDA GPUs; run on a GPU node, or set DEVICE=cpu to train on the CPU anyway (very slow)"
  fi
  (( NPROC >= 1 )) || die "NGPU=0 with DEVICE=cuda; set NGPU to 1..$VISIBLE_GPUS, or DEVICE=cpu"
  (( NPROC <= VISIBLE_GPUS )) || die "NGPU=$NPROC but nvidia-smi lists $VISIBLE_GPUS GPU(s); set NGPU=$VISIBLE_GPUS or fewer"
  if (( NPROC > 1 )) && ! command -v "$MPIRUN" >/dev/null 2>&1; then
    die "NGPU=$NPROC launches through '$MPIRUN', which is not on PATH; install Open MPI, set MPIRUN to the launcher's path, or set NGPU=1"
  fi
}

# The train shards on disk: SOURCE=shards must pass llm-fetch's offline verification (every requested file present
# and verified); SOURCE=parquet must have llm-tokenize's finished manifest. In both cases the train glob must match
# exactly that set: llm-train reads whatever it matches.
preflight_data() {
  local fix="run: $(basename "$0") --stage fetch" expected
  if (( DRY_RUN )); then
    if [[ $SOURCE == shards ]]; then
      note "preflight: the shards must pass: $(show_cmd "$BIN/llm-fetch" "$DS_SHARDS_CMD" --shards "$SHARDS" --out "$SHARD_DIR" --offline)"
    else
      note "preflight: $SHARD_DIR/$DS_PREFIX.progress.json must record a finished llm-tokenize run"
    fi
    note "preflight: $SHARD_DIR/${DS_PREFIX}_train_*.bin must match exactly the shards fetched"
    [[ $(flag_value -h 0) == 1 ]] && note "preflight: -h 1 needs $HELLASWAG_BIN"
    return 0
  fi
  if [[ $SOURCE == shards ]]; then
    local out rc=0
    out=$("$BIN/llm-fetch" "$DS_SHARDS_CMD" --shards "$SHARDS" --out "$SHARD_DIR" --offline 2>&1) || rc=$?
    if (( rc != 0 )); then
      local why; why=$(sed -n 's/^llm-fetch: error: //p' <<<"$out" | head -n 1)
      why=${why%%; run the same llm-fetch*}
      die "train data not ready: ${why:-llm-fetch --offline exited with code $rc}; $fix"
    fi
    # "llm-fetch: N/N files present and verified": the val shard and N-1 train shards.
    expected=$(sed -nE 's|^llm-fetch: ([0-9]+)/[0-9]+ files present.*|\1|p' <<<"$out")
    expected=$((expected - 1))
  else
    local manifest=$SHARD_DIR/$DS_PREFIX.progress.json written i
    [[ -f $manifest ]] && grep -Eq '"complete": *true' "$manifest" ||
      die "train data not ready: $manifest does not record a finished tokenization; $fix"
    written=$(sed -nE 's/.*"shardsWritten": *([0-9]+).*/\1/p' "$manifest")
    [[ -s $SHARD_DIR/${DS_PREFIX}_val_000000.bin ]] || die "train data not ready: $SHARD_DIR/${DS_PREFIX}_val_000000.bin is missing; $fix"
    for ((i = 1; i < written; i++)); do
      [[ -s $(printf '%s/%s_train_%06d.bin' "$SHARD_DIR" "$DS_PREFIX" "$i") ]] ||
        die "train data not ready: $(printf '%s/%s_train_%06d.bin' "$SHARD_DIR" "$DS_PREFIX" "$i") is missing ($manifest records $written shards); $fix"
    done
    expected=$((written - 1))
  fi
  local matched; matched=$(glob_list "$SHARD_DIR" "${DS_PREFIX}_train_*.bin" | wc -l)
  (( matched == expected )) || die "$SHARD_DIR holds $matched files matching ${DS_PREFIX}_train_*.bin but the fetched set is $expected (SHARDS=$SHARDS); llm-train reads every match, so move the others away or set SHARDS to match"
  if [[ $(flag_value -h 0) == 1 && ! -s $HELLASWAG_BIN ]]; then
    die "-h 1 scores HellaSwag during training but $HELLASWAG_BIN is missing; run: $(basename "$0") --stage hellaswag (or set EXTRA_FLAGS='-h 0')"
  fi
  local every; every=$(flag_value -n 0)
  (( every > 0 )) || die "-n $every writes no checkpoint, so the run's end (DONE marker) never appears; give -n a positive number"
}

# --- the final step, and the files named after it ---

# -x (STEPS or EXTRA_FLAGS included); without it llm.c trains one epoch (train_gpt2.cu: train tokens / total batch).
resolve_final_step() {
  [[ -n ${FINAL_STEP:-} ]] && return 0
  local x; x=$(flag_value -x -1)
  if (( x >= 0 )); then FINAL_STEP=$x; return 0; fi
  local shards; mapfile -t shards < <(glob_list "$SHARD_DIR" "${DS_PREFIX}_train_*.bin")
  if (( DRY_RUN )) || (( ${#shards[@]} == 0 )); then
    FINAL_STEP=$LLMC_EPOCH_STEPS
    note "one epoch of llm.c's $DEFAULT_DATASET is $LLMC_EPOCH_STEPS steps; a real run counts the shards' tokens"
    return 0
  fi
  local f tokens=0 total
  for f in "${shards[@]}"; do tokens=$((tokens + ($(stat -c %s "$f") - 1024) / 2)); done
  total=$(flag_value -d -1)
  (( total > 0 )) || total=$(($(flag_value -b 4) * $(flag_value -t 1024) * NPROC))
  FINAL_STEP=$((tokens / total))
}

done_file() { printf '%s/DONE_%08d' "$OUT_DIR" "$FINAL_STEP"; }
final_model() { printf '%s/model_%08d.bin' "$OUT_DIR" "$FINAL_STEP"; }

# Highest step with a DONE marker in OUT_DIR (0 if none): a failed run that raised it made progress.
latest_done() {
  local f n best=0
  for f in "$OUT_DIR"/DONE_*; do
    [[ -e $f ]] || continue
    n=$((10#${f##*DONE_}))
    (( n > best )) && best=$n
  done
  echo "$best"
}

# --- stages ---

# llm-fetch's offline check first: a re-run, with or without internet, skips files verified before.
fetch_verified() {
  if (( DRY_RUN )); then printf '%s || %s\n' "$(show_cmd "$@" --offline --quiet)" "$(show_cmd "$@")"; return; fi
  if "$@" --offline --quiet 2>/dev/null; then echo "fetch: every file of '$2' is already in $(basename "${!#}") and verified; nothing to download"; return; fi
  "$@"
}

stage_fetch() {
  if [[ $SOURCE == shards ]]; then
    fetch_verified "$BIN/llm-fetch" "$DS_SHARDS_CMD" --shards "$SHARDS" --out "$SHARD_DIR"
    return
  fi
  local manifest=$SHARD_DIR/$DS_PREFIX.progress.json
  if already -f "$manifest" && grep -Eq '"complete": *true' "$manifest"; then
    echo "fetch: $SHARD_DIR holds the finished tokenization ($manifest); skipped"; return
  fi
  local raw=$DATA_DIR/$DATASET-parquet files
  fetch_verified "$BIN/llm-fetch" "$DS_PARQUET_CMD" --sample "$DS_SAMPLE" --out "$raw"
  mapfile -t files < <(glob_list "$raw" '*.parquet')
  run "$BIN/llm-tokenize" "${files[@]}" --out "$SHARD_DIR" --prefix "$DS_PREFIX"
}

stage_hellaswag() {
  if already -s "$HELLASWAG_BIN"; then echo "hellaswag: $HELLASWAG_BIN exists"; return; fi
  fetch_verified "$BIN/llm-fetch" hellaswag --out "$HELLASWAG_DIR"
  run "$BIN/llm-tokenize" hellaswag "$HELLASWAG_DIR/hellaswag_val.jsonl" --out "$HELLASWAG_BIN"
}

stage_train() {
  preflight_data
  resolve_final_step
  if already -f "$(done_file)"; then echo "train: $(done_file) exists"; return; fi
  if (( DRY_RUN )); then
    note "repeated until $(done_file) exists: a crash resumes from the newest checkpoint (-y 1); exit 2 (a configuration error) or 130 (interrupted) stops the loop, as do $STALLED_LIMIT failures in a row without a new checkpoint"
    show_cmd "${LAUNCH[@]}" "${TRAIN_ARGS[@]}"
    return
  fi
  mkdir -p "$OUT_DIR"
  local restarts=0 stalled=0 rc progress now
  progress=$(latest_done)
  until [[ -f $(done_file) ]]; do
    rc=0
    "${LAUNCH[@]}" "${TRAIN_ARGS[@]}" || rc=$?
    if (( rc == 0 )); then
      [[ -f $(done_file) ]] || die "llm-train finished without writing $(done_file) (its last step is not $FINAL_STEP); set STEPS, or -x in EXTRA_FLAGS, to the step count the run trains"
      break
    fi
    case $rc in
      2) die "llm-train refused its configuration (exit 2; its line above says why); not retrying: fix the setting and re-run" ;;
      130) die "training interrupted (exit 130); re-run the script to resume from the newest checkpoint" ;;
    esac
    now=$(latest_done)
    if (( now > progress )); then progress=$now; stalled=0; else stalled=$((stalled + 1)); fi
    (( stalled < STALLED_LIMIT )) || die "llm-train failed $stalled times in a row (last exit $rc) without a new checkpoint (newest: step $progress); not retrying: see its error above and $OUT_DIR/main.log"
    restarts=$((restarts + 1))
    (( restarts <= MAX_RESTARTS )) || die "training stopped $MAX_RESTARTS times without finishing; see $OUT_DIR/main.log"
    log "training exited with code $rc before step $FINAL_STEP; resuming (restart $restarts)"
    sleep 1
  done
  echo "train: $(done_file) exists"
}

stage_eval() {
  resolve_final_step
  local out=$OUT_DIR/hellaswag_final.json
  if already -s "$out"; then echo "eval: $out exists"; return; fi
  run_json "$out" "$BIN/llm-eval" hellaswag -e "$(final_model)" --hellaswag-data "$HELLASWAG_BIN" --device "$DEVICE" --json
}

stage_sample() {
  resolve_final_step
  local out=$OUT_DIR/samples.txt
  if already -s "$out"; then echo "sample: $out exists"; return; fi
  run_to "$out" "$BIN/llm-sample" -e "$(final_model)" -g "$(flag_value -g 64)" --device "$DEVICE"
}

stage_plot() {
  run "$BIN/llm-plot" "$OUT_DIR/main.log" --out "$OUT_DIR/curves.png" --size "$PLOT_SIZE"
  run "$BIN/llm-plot" "$OUT_DIR/main.log" --out "$OUT_DIR/curves.svg" --size "$PLOT_SIZE" --quiet
}

gpt2_main() {
  run_stages "$@"
  echo "outputs: $OUT_DIR (main.log, checkpoints, hellaswag_final.json, samples.txt, curves.png/svg)"
}
