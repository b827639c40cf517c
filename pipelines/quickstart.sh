#!/usr/bin/env bash
# The whole pipeline at toy scale, in a few minutes on 2 CPU cores (on the GPU when one is present):
# build the tools, make a small corpus, tokenize it into llm.c shards, train a small GPT-2 until its
# val loss has clearly fallen, score HellaSwag, generate text, and draw the curves.
#
# Works offline: the default corpus is the English API documentation (XML) that ships inside the
# .NET SDK's reference packs, turned into plain text. Online, --fineweb starts from a FineWeb-EDU
# parquet download instead (one file is ~2 GB). HellaSwag is scored on the official validation file when
# it can be downloaded (or on --hellaswag FILE), else on the sample bundled in data/ (500 items, MIT; see
# data/README.md); the result is RUN/hellaswag.json (correct, total, accuracy).
#
# Usage: pipelines/quickstart.sh [--input FILE...] [--fineweb] [--hellaswag FILE] [--hellaswag-limit N]
#                                [--steps N] [--stage NAME | --from NAME] [--dry-run] | --list | --help
#   --dry-run prints the command of every selected stage and runs nothing.
# Settings (environment, same names as the flags): WORK (default ./runs/quickstart), INPUT, FINEWEB (1 = --fineweb),
#   HELLASWAG (.jsonl, .bin or the preprocessed .txt(.bz2)), HELLASWAG_LIMIT (items scored, default 100; 0 = all),
#   STEPS (default 120), MODEL (default d6), DEVICE (auto, cpu or cuda), BIN (tools folder, default ./bin, built
#   when missing or older than the sources).

source "$(dirname "$0")/lib/stages.sh"

WORK=${WORK:-$REPO_ROOT/runs/quickstart}
STEPS=${STEPS:-120}
MODEL=${MODEL:-d6}
DEVICE=${DEVICE:-auto}
HELLASWAG=${HELLASWAG:-}
HELLASWAG_LIMIT=${HELLASWAG_LIMIT:-100}
HELLASWAG_SAMPLE=$REPO_ROOT/data/hellaswag_val_sample.txt.bz2
FINEWEB=${FINEWEB:-0}
INPUTS=()
[[ -n ${INPUT:-} ]] && INPUTS=($INPUT)

args=()
while (($#)); do
  case $1 in
    --input) shift; while (($#)) && [[ $1 != --* ]]; do INPUTS+=("$1"); shift; done ;;
    --fineweb) FINEWEB=1; shift ;;
    --hellaswag) HELLASWAG=${2:?--hellaswag needs a file}; shift 2 ;;
    --hellaswag-limit) HELLASWAG_LIMIT=${2:?--hellaswag-limit needs a number}; shift 2 ;;
    --steps) STEPS=${2:?--steps needs a number}; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

STAGES=(corpus tokenize hellaswag train eval sample plot)
CORPUS=$WORK/corpus
SHARDS=$WORK/shards
RUN=$WORK/run

# Plain text from the SDK's XML docs: cref/langword/paramref become their names, tags and entities go.
xml_to_text() {
  sed -E -e 's/<see (cref|langword|href)="([A-Z]:)?([^"]*)"[^>]*\/>/\3/g' \
         -e 's/<(paramref|typeparamref) name="([^"]*)"[^>]*\/>/\2/g' \
         -e 's/<[^>]+>//g' -e 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'"'"'/g; s/&amp;/\&/g' \
         -e 's/^[[:space:]]+//' "$1" | grep -v '^$' || true
}

sdk_doc_folder() {
  local dn; dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
  ls -d "$dn"/packs/Microsoft.NETCore.App.Ref/*/ref/net*/ 2>/dev/null | sort -V | tail -1
}

stage_corpus() {
  if (( ${#INPUTS[@]} )); then echo "corpus: using ${INPUTS[*]}"; return; fi
  if already -f "$CORPUS/.complete"; then echo "corpus: $CORPUS exists"; return; fi
  if (( FINEWEB )); then
    (( DRY_RUN )) || { rm -rf "$CORPUS" && mkdir -p "$CORPUS"; }
    run "$BIN/llm-fetch" fineweb-edu --sample 10BT --files 1 --out "$CORPUS"
  else
    local docs; docs=$(sdk_doc_folder)
    [[ -n $docs ]] || die "no .NET SDK reference pack found for the default corpus; pass --input FILE (text, .jsonl or .parquet)"
    if (( DRY_RUN )); then note "corpus: each ${docs}*.xml turned into plain text (sed, xml_to_text) in $CORPUS/"; return; fi
    rm -rf "$CORPUS" && mkdir -p "$CORPUS"
    local f n=0
    for f in "$docs"*.xml; do xml_to_text "$f" > "$CORPUS/$(basename "${f%.xml}").txt"; n=$((n + 1)); done
    echo "corpus: $n documents from $docs ($(du -sh "$CORPUS" | cut -f1) of text)"
  fi
  (( DRY_RUN )) || touch "$CORPUS/.complete"
}

corpus_files() {
  if (( ${#INPUTS[@]} )); then printf '%s\n' "${INPUTS[@]}"; elif (( FINEWEB )); then glob_list "$CORPUS" '*.parquet'; else glob_list "$CORPUS" '*.txt'; fi
}

stage_tokenize() {
  if already -f "$SHARDS/.complete"; then echo "tokenize: $SHARDS exists"; return; fi
  local files; mapfile -t files < <(corpus_files)
  # Small shards: the first 100k tokens are the val split, the rest train.
  run "$BIN/llm-tokenize" "${files[@]}" --out "$SHARDS" --prefix quick --shard-size 100000
  (( DRY_RUN )) || touch "$SHARDS/.complete"
}

stage_hellaswag() {
  local dir=$WORK/hellaswag
  if [[ -n $HELLASWAG ]]; then
    (( DRY_RUN )) || [[ -f $HELLASWAG ]] || die "--hellaswag $HELLASWAG: no such file"
    echo "hellaswag: using $HELLASWAG"; return
  fi
  if already -s "$dir/hellaswag_val.jsonl"; then echo "hellaswag: $dir/hellaswag_val.jsonl exists"; return; fi
  # Few retries: offline, the default 10 with doubling backoff spend minutes before the sample is used.
  local fetch=(timeout 120 "$BIN/llm-fetch" hellaswag --out "$dir" --quiet --retries 3 --backoff 1)
  if (( DRY_RUN )); then show_cmd "${fetch[@]}"; note "hellaswag: offline, the bundled sample $HELLASWAG_SAMPLE is scored instead"; return; fi
  if "${fetch[@]}"; then
    echo "hellaswag: downloaded to $dir"
  elif [[ -f $HELLASWAG_SAMPLE ]]; then
    echo "hellaswag: could not download the validation set (offline?); using the bundled sample $HELLASWAG_SAMPLE. Pass --hellaswag FILE to use a local copy."
  else
    echo "hellaswag: could not download the validation set and $HELLASWAG_SAMPLE is missing; HellaSwag is skipped. Pass --hellaswag FILE."
  fi
}

# The file the eval stage scores: --hellaswag, else the download, else the bundled sample (none: skipped).
hellaswag_file() {
  if [[ -n $HELLASWAG ]]; then echo "$HELLASWAG"
  elif [[ -s $WORK/hellaswag/hellaswag_val.jsonl ]]; then echo "$WORK/hellaswag/hellaswag_val.jsonl"
  elif [[ -f $HELLASWAG_SAMPLE ]]; then echo "$HELLASWAG_SAMPLE"
  fi
}

final_model() { printf '%s/model_%08d.bin' "$RUN" "$STEPS"; }

stage_train() {
  if already -f "$(printf '%s/DONE_%08d' "$RUN" "$STEPS")"; then echo "train: finished run in $RUN"; return; fi
  (( DRY_RUN )) || mkdir -p "$RUN"
  run "$BIN/llm-train" -i "$SHARDS/quick_train_*.bin" -j "$SHARDS/quick_val_*.bin" -o "$RUN" -e "$MODEL" \
    -b 4 -t 64 -x "$STEPS" -l 0.001 -u 10 -q 0.1 -c 0.1 -v 20 -m 8 -s "$STEPS" -g 48 -n "$STEPS" -y 1 \
    --device "$DEVICE"
}

stage_eval() {
  local data; data=$(hellaswag_file)
  (( DRY_RUN )) && [[ -z $HELLASWAG ]] && data=$HELLASWAG_SAMPLE
  if [[ -z $data ]]; then echo "eval: no HellaSwag data; skipped"; rm -f "$RUN/hellaswag.json"; return; fi
  local limit=(); (( HELLASWAG_LIMIT > 0 )) && limit=(--limit "$HELLASWAG_LIMIT")
  # llm-eval's last line is the JSON object (correct, total, accuracy, ...).
  run_json "$RUN/hellaswag.json" "$BIN/llm-eval" hellaswag -e "$(final_model)" --hellaswag-data "$data" "${limit[@]}" --device "$DEVICE" --json
}

stage_sample() {
  run_to "$RUN/sample.txt" "$BIN/llm-sample" -e "$(final_model)" --prompt "Returns a value that indicates whether" -g 40 --seed 1 --device "$DEVICE"
}

stage_plot() {
  run "$BIN/llm-plot" "$RUN/main.log" --out "$RUN/curves.png"
  run "$BIN/llm-plot" "$RUN/main.log" --out "$RUN/curves.svg" --quiet
}

run_stages "${args[@]}"

# The closing list names only what exists (a skipped stage writes nothing).
artefact() {
  local name=$1 p any=0; shift
  for p in "$@"; do [[ -e $p ]] && any=1; done
  (( any )) || return 0
  printf '  %-11s' "$name"; for p in "$@"; do [[ -e $p ]] && printf ' %s' "$p"; done; printf '\n'
}
echo "artefacts:"
if (( ${#INPUTS[@]} )); then artefact corpus "${INPUTS[@]}"; else artefact corpus "$CORPUS"; fi
artefact shards "$SHARDS"
artefact checkpoint "$(final_model)"
artefact log "$RUN/main.log"
artefact hellaswag "$RUN/hellaswag.json"
artefact sample "$RUN/sample.txt"
artefact plots "$RUN/curves.png" "$RUN/curves.svg"
