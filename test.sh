#!/usr/bin/env bash
# Builds the solution (Release) and runs every test project under tests/, then prints one summary
# line "N passed, N failed, N skipped". GPU tests skip themselves (and say so) on machines without a GPU.
# Usage: ./test.sh [PROJECT_FILTER]   e.g. ./test.sh Model   (runs tests/Model.Tests only)
set -uo pipefail
cd "$(dirname "$0")"
filter=${1:-}
if ! dotnet build llm.net.slnx -c Release --nologo -v quiet -clp:ErrorsOnly; then
  echo "0 passed, 1 failed (build failed)"; exit 1
fi
passed=0; failed=0; skipped=0; status=0
for dir in tests/*.Tests; do
  name=$(basename "$dir")
  [[ -n $filter && $name != *"$filter"* ]] && continue
  exe="$dir/bin/Release/net10.0/LlmNet.$name"
  [[ -x $exe ]] || { echo "test.sh: $exe missing"; failed=$((failed+1)); status=1; continue; }
  echo "=== $name"
  log=$(mktemp)
  "$exe" -noColor -parallel collections 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  summary=$(grep -E 'Total: [0-9]+' "$log" | tail -1)
  if [[ -z $summary ]]; then echo "test.sh: $name printed no summary (exit $rc)"; failed=$((failed+1)); status=1; rm -f "$log"; continue; fi
  field() { local v; v=$(sed -nE "s/.*$1: ([0-9]+).*/\1/p" <<<"$summary"); echo "${v:-0}"; }
  t=$(field Total); e=$(field Errors); f=$(field Failed); s=$(field Skipped); nr=$(field 'Not Run')
  passed=$((passed + t - f - s - nr)); failed=$((failed + f + e)); skipped=$((skipped + s + nr))
  (( rc != 0 || f + e > 0 )) && status=1
  rm -f "$log"
done
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
