#!/usr/bin/env bash
# Builds every tool (Release) into ./bin/: llm-fetch, llm-tokenize, llm-train, llm-eval, llm-sample, llm-plot, llm-convert.
# The folder is framework-dependent: copy it to any machine with the .NET 10 runtime (a GPU node included).
# Usage: ./build.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-bin}
mkdir -p "$out"
# Publish for this machine's platform only (linux-x64 on a GPU node), framework-dependent: native
# libraries of other platforms stay out and the folder runs anywhere the .NET 10 runtime is installed.
rid=${RID:-$(dotnet --info | awk '/ RID:/ {print $2; exit}')}
for proj in tools/*/llm-*.csproj; do
  dotnet publish "$proj" -c Release -r "$rid" --self-contained false -o "$out" --nologo -v quiet -p:UseAppHost=true -p:GenerateDocumentationFile=false >/dev/null \
    || { echo "build.sh: building $proj failed; run: dotnet publish $proj -c Release" >&2; exit 1; }
done
touch "$out/.built"
echo "built: $(cd "$out" && ls llm-* | grep -v '\.' | tr '\n' ' ')-> $out/"
