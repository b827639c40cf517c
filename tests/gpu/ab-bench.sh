#!/usr/bin/env bash
# Several builds of llm-train measured in one device call by tests/gpu/speed-bench.sh, interleaved so that they share
# the card's thermal state: for each stage, each build in turn (data once, first). Each build's runs go to $OUT/NAME
# (a speed-bench OUT folder, with its report.md); every other build's figures are set beside the first's in one
# table, $OUT/compare.md (`llm-cuda-bench compare $OUT/FIRST $OUT/OTHER...`), which is printed at the end.
#
# BUILDS: space-separated NAME=DIR[+OVERLAY][@COMMIT] (required; at least two; the first is the base).
#   NAME     letters, digits, '-' and '_': the build's folder in $OUT and its name in the tables
#   DIR      a folder holding llm-train (e.g. ./build.sh's output)
#   OVERLAY  a folder of files copied over a copy of DIR in a temporary folder before anything runs: a build that
#            differs from DIR in one or two DLLs travels as just those DLLs (the device's carried folder is 64 MiB)
#   COMMIT   the build's commit, for card.txt and the tables (default: unknown)
#   DIR and OVERLAY cannot hold '+' or '@'.
# Environment: STAGES (d12 d48; any of d12 d48 d48-1m, data always runs first), OUT (out), BUDGET (560: seconds
#   for the whole call; each speed-bench call gets what is left, less 20 s for the reports, divided by the runs not
#   yet done, and speed-bench skips a run whose minimum no longer fits with a SKIP line), BENCH
#   (.device/gpu/llm-cuda-bench), and what speed-bench.sh reads (DATA, STEPS_1M, GPU). d48-1m has no stored
#   reference and llm.c is not run here (LLMC and LLMC_SRC are cleared), so its figures never count.
# Options: --dry-run prints what would run, and runs and writes nothing.
# Exit: 2 on bad BUILDS or STAGES (one line, nothing run), else compare's: 0 when every comparison counts, 1 otherwise.
# Example (one device call; .device/new holds only the DLLs that changed):
#   BUILDS="old=.device/bin@2f1fc82 new=.device/bin+.device/new@abc1234" OUT=$OUT/ab bash tests/gpu/ab-bench.sh
set -uo pipefail
OUT=${OUT:-out}; BENCH=${BENCH:-.device/gpu/llm-cuda-bench}; BUDGET=${BUDGET:-560}; STAGES=${STAGES:-d12 d48}
BUILDS=${BUILDS:-}
here=$(cd "$(dirname "$0")" && pwd)
DRY=0; DRYFLAG=(); [[ ${1:-} == --dry-run ]] && { DRY=1; DRYFLAG=(--dry-run); shift; }
(( $# == 0 )) || { echo "ab-bench.sh: unexpected argument '$1' (only --dry-run; builds and stages come from BUILDS and STAGES)" >&2; exit 2; }
start=$SECONDS; dry_spent=0 # a dry run counts each run's share as spent, to print the split a real call would get
left() { echo $(( BUDGET - (SECONDS - start) - dry_spent )); }
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
die() { echo "ab-bench.sh: $*" >&2; exit 2; }

# ---- BUILDS and STAGES, checked before anything runs
names=(); dirs=(); overlays=(); commits=()
for entry in $BUILDS; do
  [[ $entry == *=* ]] || die "BUILDS entry '$entry': expected NAME=DIR, NAME=DIR+OVERLAY or either with @COMMIT"
  name=${entry%%=*}; rest=${entry#*=}; commit=unknown; overlay=""
  [[ $rest == *@* ]] && { commit=${rest##*@}; rest=${rest%@*}; }
  [[ $rest == *+* ]] && { overlay=${rest#*+}; rest=${rest%%+*}; }
  [[ $name =~ ^[A-Za-z0-9_-]+$ ]] || die "BUILDS entry '$entry': name '$name' may hold only letters, digits, '-' and '_'"
  [[ " ${names[*]} " == *" $name "* ]] && die "BUILDS: the name '$name' is given twice; each build needs its own"
  [[ -n $commit && $commit =~ ^[A-Za-z0-9._-]+$ ]] || die "BUILDS entry '$entry': commit '$commit' may hold only letters, digits, '.', '-' and '_'"
  [[ -d $rest ]] || die "BUILDS entry '$entry': $rest: no such folder (give the folder that holds llm-train)"
  [[ -z $overlay || -d $overlay ]] || die "BUILDS entry '$entry': overlay $overlay: no such folder"
  [[ -x $rest/llm-train || ( -n $overlay && -x $overlay/llm-train ) ]] ||
    die "BUILDS entry '$entry': no executable llm-train in $rest${overlay:+ or $overlay} (build it with ./build.sh DIR)"
  names+=("$name"); dirs+=("$rest"); overlays+=("$overlay"); commits+=("$commit")
done
(( ${#names[@]} >= 2 )) || die "BUILDS needs two builds or more, the base first, e.g. BUILDS=\"old=.device/bin new=.device/bin+.device/new\""
stages=()
for s in $STAGES; do
  case $s in
    data) ;; # runs once, first, whatever STAGES says
    d12|d48|d48-1m) stages+=("$s") ;;
    *) die "STAGES: unknown stage '$s' (d12 d48 d48-1m)" ;;
  esac
done
(( ${#stages[@]} )) || die "STAGES names no run; give some of d12 d48 d48-1m"

# ---- each build's folder: DIR itself, or a copy of it with OVERLAY's files over it
bins=(); tmp=""
for i in "${!names[@]}"; do
  if [[ -z ${overlays[i]} ]]; then bins+=("${dirs[i]}"); continue; fi
  if (( DRY )); then
    echo "would copy ${dirs[i]} to a temporary folder and ${overlays[i]}'s files over it (build ${names[i]})"
    bins+=("TMP/${names[i]}"); continue
  fi
  [[ -n $tmp ]] || { tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-bench.XXXXXX") || die "cannot make a temporary folder"; trap 'rm -rf "$tmp"' EXIT; }
  cp -a "${dirs[i]}/." "$tmp/${names[i]}" && cp -a "${overlays[i]}/." "$tmp/${names[i]}" ||
    die "build ${names[i]}: copying ${dirs[i]} and ${overlays[i]} into $tmp failed"
  [[ -x $tmp/${names[i]}/llm-train ]] || die "build ${names[i]}: no executable llm-train after copying ${overlays[i]} over ${dirs[i]}"
  bins+=("$tmp/${names[i]}")
  stamp "build ${names[i]}: ${dirs[i]} with $(find "${overlays[i]}" -type f | wc -l) file(s) of ${overlays[i]} over it"
done

# speed-bench.sh with this call's environment for one build. It gives a run what is left of its BUDGET less 20 s (its
# report's time), so BUDGET=share+20 gives the run `share` seconds; llm.c is not run here (see the header).
bench() { # NAME BIN COMMIT SHARE STAGE...
  local name=$1 bin=$2 commit=$3 share=$4; shift 4
  OUT=$OUT/$name BIN=$bin COMMIT=$commit BUDGET=$(( share + 20 )) BENCH=$BENCH LLMC= LLMC_SRC= \
    bash "$here/speed-bench.sh" "${DRYFLAG[@]}" "$@"
}

(( DRY )) || mkdir -p "$OUT"
OUT=$OUT BENCH=$BENCH BUDGET=$(left) LLMC= LLMC_SRC= bash "$here/speed-bench.sh" "${DRYFLAG[@]}" data

runs=$(( ${#stages[@]} * ${#names[@]} )); done_runs=0
for s in "${stages[@]}"; do
  for i in "${!names[@]}"; do
    share=$(( ($(left) - 20) / (runs - done_runs) ))
    stamp "== $s, build ${names[i]} ($(( done_runs + 1 ))/$runs; ${share} s of $(left) s left)"
    bench "${names[i]}" "${bins[i]}" "${commits[i]}" "$share" "$s"
    done_runs=$(( done_runs + 1 )); (( DRY )) && dry_spent=$(( dry_spent + share ))
  done
done

# ---- the tables: one report per build (its report.md), then the builds side by side
if (( DRY )); then
  for n in "${names[@]}"; do echo "would run: $BENCH report $OUT/$n"; done
  echo "would run: $BENCH compare ${names[*]/#/$OUT/} --out $OUT/compare.md"
  exit 0
fi
for n in "${names[@]}"; do
  "$BENCH" report "$OUT/$n" > /dev/null; echo "report: $OUT/$n/report.md (exit $?)"
done
echo
"$BENCH" compare "${names[@]/#/$OUT/}" --out "$OUT/compare.md"
