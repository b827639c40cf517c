# Stage runner shared by the pipelines. A pipeline defines STAGES=(a b c) and a function stage_<name>
# for each, then calls run_stages "$@". Every stage must be idempotent: it checks what is already
# done (and verified) and skips it, so a re-run after a failure picks up where the last one stopped.
# A pipeline may define before_stages (called with the names of the stages about to run, before the
# first one) and pipeline_help (printed by --help after the script's leading comment block).
#
# Flags understood by every pipeline:
#   --stage NAME   run only this stage
#   --from NAME    run this stage and every later one
#   --list         list the stages and exit
#   --dry-run      print the commands every selected stage runs, run nothing, exit 0
#   -h, --help     show the pipeline's help

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$REPO_ROOT/bin}
DRY_RUN=0

log() { printf '\n[%s] == %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# A shell word for ARG as a user would type it: plain when safe, else single-quoted. An argument made by
# glob_list shows its folder quoted and its pattern bare, as the shell line that expands it would read.
GLOB_MARK=$'\x01glob:'
quote_arg() {
  local a=$1
  if [[ $a == "$GLOB_MARK"* ]]; then a=${a#"$GLOB_MARK"}; printf '%s/%s' "$(quote_arg "${a%/*}")" "${a##*/}"; return; fi
  if [[ $a =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then printf '%s' "$a"; else printf "'%s'" "${a//\'/\'\\\'\'}"; fi
}
show_cmd() { local a line=""; for a in "$@"; do line+="${line:+ }$(quote_arg "$a")"; done; printf '%s\n' "$line"; }

# run CMD ARGS...: runs the command, or under --dry-run prints it.
run() { if (( DRY_RUN )); then show_cmd "$@"; else "$@"; fi; }

# run_to FILE CMD ARGS...: the command's stdout becomes FILE (written whole or not at all) and is echoed.
run_to() {
  local out=$1; shift
  if (( DRY_RUN )); then printf '%s > %s\n' "$(show_cmd "$@")" "$(quote_arg "$out")"; return; fi
  "$@" > "$out.tmp" && mv "$out.tmp" "$out"
  cat "$out"
}

# run_json FILE CMD ARGS...: shows the command's output; its last line (a JSON object) becomes FILE.
run_json() {
  local out=$1; shift
  if (( DRY_RUN )); then printf '%s | tail -n 1 > %s\n' "$(show_cmd "$@")" "$(quote_arg "$out")"; return; fi
  "$@" | tee "$out.log.tmp"
  tail -n 1 "$out.log.tmp" > "$out.tmp" && mv "$out.tmp" "$out"
  rm -f "$out.log.tmp"
}

# glob_list DIR PATTERN: the files PATTERN matches in DIR, one per line in byte order (as llm.c's glob sorts);
# under --dry-run one line standing for them, which show_cmd prints as DIR/PATTERN.
glob_list() {
  if (( DRY_RUN )); then printf '%s%s/%s\n' "$GLOB_MARK" "$1" "$2"; return; fi
  local f; for f in "$1"/$2; do [[ -e $f ]] && printf '%s\n' "$f"; done | LC_ALL=C sort
}

# already TEST...: true when a real run finds the test true (work done); always false under --dry-run,
# which shows every command a stage runs on a fresh machine.
already() { (( ! DRY_RUN )) && [ "$@" ]; }

# Under --dry-run prints a comment line (what a stage decides or checks); otherwise nothing.
note() { if (( DRY_RUN )); then printf '# %s\n' "$*"; fi; }

# Builds the tools into BIN when one is missing or, for the repository's own bin/, when any source
# is newer than the last build (so a pipeline never runs stale tools after a `git pull`).
ensure_tools() {
  local t reason=""
  for t in fetch tokenize train eval sample plot; do [[ -x $BIN/llm-$t ]] || reason="llm-$t is not built"; done
  if [[ -z $reason && $BIN == "$REPO_ROOT/bin" && -f $BIN/.built ]] &&
     [[ -n $(find "$REPO_ROOT/lib" "$REPO_ROOT/tools" -newer "$BIN/.built" \( -name '*.cs' -o -name '*.csproj' -o -name '*.cu' -o -name '*.cuh' \) -print -quit) ]]; then
    reason="sources changed since the last build"
  fi
  [[ -z $reason ]] && return 0
  if (( DRY_RUN )); then note "tools: $reason; a real run first builds them"; show_cmd "$REPO_ROOT/build.sh" "$BIN"; return 0; fi
  command -v dotnet >/dev/null || die "$reason and no 'dotnet' is on PATH; install the .NET 10 SDK or set BIN to a folder with the llm-* tools"
  log "building the tools into $BIN ($reason)"
  "$REPO_ROOT/build.sh" "$BIN"
}

# Number of CUDA GPUs on this machine (0 when there is no driver).
gpu_count() {
  if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true; else echo 0; fi
}

show_help() {
  sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"
  if declare -F pipeline_help >/dev/null; then pipeline_help; fi
}

run_stages() {
  local only="" from="" s started=0 selected=()
  while (($#)); do
    case $1 in
      --stage) only=${2:?--stage needs a name}; shift 2 ;;
      --from) from=${2:?--from needs a name}; shift 2 ;;
      --list) printf '%s\n' "${STAGES[@]}"; exit 0 ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) show_help; exit 0 ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
  done
  for s in $only $from; do
    [[ " ${STAGES[*]} " == *" $s "* ]] || die "unknown stage '$s'; stages: ${STAGES[*]}"
  done
  [[ -z $from ]] && started=1
  for s in "${STAGES[@]}"; do
    [[ $s == "$from" ]] && started=1
    (( started )) || continue
    [[ -n $only && $s != "$only" ]] && continue
    selected+=("$s")
  done
  if (( DRY_RUN )); then
    printf '# %s --dry-run: the commands of the stages %s (nothing runs; a real run skips work already done)\n' "$(basename "$0")" "${selected[*]}"
  fi
  if declare -F before_stages >/dev/null; then before_stages "${selected[@]}"; fi
  ensure_tools
  for s in "${selected[@]}"; do
    if (( DRY_RUN )); then printf '\n# stage %s\n' "$s"; else log "stage: $s"; fi
    "stage_$s"
  done
  if (( DRY_RUN )); then exit 0; fi
  log "done"
}
