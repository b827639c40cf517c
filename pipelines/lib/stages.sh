# Stage runner shared by the pipelines. A pipeline defines STAGES=(a b c) and a function stage_<name>
# for each, then calls run_stages "$@". Every stage must be idempotent: it checks what is already
# done (and verified) and skips it, so a re-run after a failure picks up where the last one stopped.
#
# Flags understood by every pipeline:
#   --stage NAME   run only this stage
#   --from NAME    run this stage and every later one
#   --list         list the stages and exit
#   -h, --help     show the pipeline's help (its leading comment block)

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$REPO_ROOT/bin}

log() { printf '\n[%s] == %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

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
  command -v dotnet >/dev/null || die "$reason and no 'dotnet' is on PATH; install the .NET 10 SDK or set BIN to a folder with the llm-* tools"
  log "building the tools into $BIN ($reason)"
  "$REPO_ROOT/build.sh" "$BIN"
}

# Number of CUDA GPUs on this machine (0 when there is no driver).
gpu_count() {
  if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true; else echo 0; fi
}

show_help() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

run_stages() {
  local only="" from="" s started=0
  while (($#)); do
    case $1 in
      --stage) only=${2:?--stage needs a name}; shift 2 ;;
      --from) from=${2:?--from needs a name}; shift 2 ;;
      --list) printf '%s\n' "${STAGES[@]}"; exit 0 ;;
      -h|--help) show_help; exit 0 ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
  done
  for s in $only $from; do
    [[ " ${STAGES[*]} " == *" $s "* ]] || die "unknown stage '$s'; stages: ${STAGES[*]}"
  done
  [[ -z $from ]] && started=1
  ensure_tools
  for s in "${STAGES[@]}"; do
    [[ $s == "$from" ]] && started=1
    (( started )) || continue
    [[ -n $only && $s != "$only" ]] && continue
    log "stage: $s"
    "stage_$s"
  done
  log "done"
}
